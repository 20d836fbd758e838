"""Print how closely the course's NumPy network (dlcourse.network) agrees with Keras and tf.GradientTape, piece by piece.

The inputs are those of chapter 6's visible checks (dlcourse.checks.backpropagation); each line gives the largest
absolute difference and the largest difference relative to the reference's largest magnitude.

    .venv/bin/python benchmarks/network_agreement.py
"""
from __future__ import annotations

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse import network, optimizers
from dlcourse.checks import backpropagation as checks
from dlcourse.problems import digits_split

keras, tf = ref.keras, ref.tf


def report(name: str, mine, theirs) -> None:
    pairs = list(zip(mine, theirs)) if isinstance(mine, (list, tuple)) else [(mine, theirs)]
    largest = max(float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))) for a, b in pairs)
    scale = max(float(np.max(np.abs(np.asarray(b, dtype=np.float64)))) for _, b in pairs)
    print(f"{name:46s} largest difference {largest:9.2e}   relative {largest / scale:9.2e}")


def main() -> None:
    x, kernel, bias, dz = checks.dense_case()
    layer = keras.layers.Dense(kernel.shape[1], dtype="float64")
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel, bias])
    report("dense forward vs keras.layers.Dense", network.dense_forward(x, kernel, bias), layer(x).numpy())
    report("dense backward vs tf.GradientTape", network.dense_backward(dz, x, kernel),
           checks.tape(lambda xt, kt, bt: tf.reduce_sum(dz * (xt @ kt + bt)), x, kernel, bias))

    loss_function = ref.sparse_cross_entropy("float64")
    for scale in (3.0, 500.0):
        logits, labels = checks.logits_case(scale=scale)
        loss, grad = network.softmax_cross_entropy(logits, labels)
        keras_grad = checks.tape(lambda t, labels=labels: loss_function(labels, t), logits)[0]
        report(f"softmax cross-entropy, logits up to {np.abs(logits).max():.0f}", [loss, grad], [float(loss_function(labels, logits)), keras_grad])

    x, gamma, beta, moving_mean, moving_variance, dy = checks.batch_norm_case()
    bn = keras.layers.BatchNormalization(dtype="float64")
    bn.build((None, x.shape[1]))
    bn.set_weights([gamma, beta, moving_mean, moving_variance])
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y = bn(x_tensor, training=True)
        upstream = tf.reduce_sum(dy * y)
    keras_grads = [g.numpy() for g in tape.gradient(upstream, [x_tensor, bn.gamma, bn.beta])]
    mine_y, mine_mean, mine_variance = network.batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training=True)
    report("batch normalisation, training forward", [mine_y, mine_mean, mine_variance],
           [y.numpy(), bn.moving_mean.numpy(), bn.moving_variance.numpy()])
    report("batch normalisation, backward vs tape", network.batch_norm_backward(dy, x, gamma), keras_grads)

    rng = np.random.default_rng(6)
    params = network.mlp_init([8, 6, 5, 3], rng)
    inputs, targets = rng.normal(size=(10, 8)), rng.integers(0, 3, size=10)
    for l2 in (0.0, 0.01):
        loss, grads = network.mlp_gradients(params, inputs, targets, "relu", float(np.float32(l2)))
        keras_loss, keras_grads = ref.mlp_loss_and_gradients(ref.dense_mlp(params, "relu", l2), inputs, targets)
        report(f"a whole MLP's gradients, l2={l2}", [loss, *grads], [keras_loss, *keras_grads])

    data = digits_split()
    x_train, y_train = data["train"]
    params = network.mlp_init([64, 32, 10], np.random.default_rng(3))
    model = ref.dense_mlp(params)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss=ref.sparse_cross_entropy("float64"))
    batches = [np.arange(len(x_train))[i:i + 64] for i in range(0, len(x_train), 64)]
    trained, _, _ = network.train_epoch(params, x_train, y_train, batches, optimizers.sgd_update, optimizers.sgd_init(params),
                                        float(np.float32(0.05)), momentum=float(np.float32(0.9)))
    model.fit(tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(64), epochs=1, verbose=0, shuffle=False)
    report("an epoch on the digits vs model.fit", trained, model.get_weights())


if __name__ == "__main__":
    main()
