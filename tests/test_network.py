"""The course's NumPy MLP (dlcourse.network) against Keras: gradients, batch normalisation, dropout, an epoch of training."""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse import keras_reference as ref
from dlcourse import network, optimizers
from dlcourse.problems import digits_split

keras, tf = ref.keras, ref.tf


def eps_bound(*arrays) -> float:
    """A rounding bound for a float64 backward pass: 64 eps times the largest magnitude involved."""
    return 64 * np.finfo(np.float64).eps * max(float(np.max(np.abs(a))) for a in arrays)


@pytest.mark.parametrize("activation, l2", [("relu", 0.0), ("tanh", 1e-3), ("sigmoid", 0.0)])
def test_mlp_gradients_equal_gradient_tape(activation, l2):
    rng = np.random.default_rng(0)
    params = network.mlp_init([64, 32, 16, 10], rng)
    x, labels = rng.normal(size=(50, 64)), rng.integers(0, 10, size=50)
    loss, grads = network.mlp_gradients(params, x, labels, activation, float(np.float32(l2)))  # Keras keeps l2 in float32
    keras_loss, keras_grads = ref.mlp_loss_and_gradients(ref.dense_mlp(params, activation, l2), x, labels)
    assert abs(loss - keras_loss) <= eps_bound([loss])
    for g, k in zip(grads, keras_grads):
        assert g.shape == k.shape and np.max(np.abs(g - k)) <= eps_bound(g, k), np.max(np.abs(g - k))


def test_batch_norm_matches_keras_in_training_and_inference_and_its_backward_pass_equals_the_tape():
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.normal(2.0, 3.0, size=(32, 5)), rng.normal(size=5), rng.normal(size=5)
    upstream = rng.normal(size=(32, 5))  # dL/dy of the loss sum(y * upstream)
    layer = keras.layers.BatchNormalization(dtype="float64")
    layer.build((None, 5))
    layer.set_weights([gamma, beta, np.zeros(5), np.ones(5)])
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y_keras = layer(x_tensor, training=True)
        weighted = tf.reduce_sum(y_keras * upstream)
    dx_keras, dgamma_keras, dbeta_keras = tape.gradient(weighted, [x_tensor, layer.gamma, layer.beta])
    y, moving_mean, moving_variance = network.batch_norm_forward(x, gamma, beta, np.zeros(5), np.ones(5), training=True)
    assert np.max(np.abs(y - y_keras.numpy())) <= eps_bound(y)
    assert np.allclose(moving_mean, layer.moving_mean.numpy(), rtol=1e-12) and np.allclose(moving_variance, layer.moving_variance.numpy(),
                                                                                           rtol=1e-12)
    dx, dgamma, dbeta = network.batch_norm_backward(upstream, x, gamma)
    for mine, theirs in ((dx, dx_keras), (dgamma, dgamma_keras), (dbeta, dbeta_keras)):
        assert np.max(np.abs(mine - theirs.numpy())) <= eps_bound(mine, theirs.numpy())
    inference, _, _ = network.batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training=False)
    assert np.max(np.abs(inference - layer(x_tensor, training=False).numpy())) <= eps_bound(inference)


def test_dropout_keeps_each_unit_with_probability_one_minus_rate_and_scales_like_keras():
    rng = np.random.default_rng(2)
    mask = network.dropout_mask((200, 500), 0.3, rng)
    assert abs(mask.mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / mask.size)
    x = rng.normal(size=(200, 500))
    keras_out = keras.layers.Dropout(0.3, seed=0)(x, training=True).numpy()
    kept = keras_out != 0
    assert np.allclose(keras_out[kept], network.dropout_forward(x, 0.3, kept, training=True)[kept], rtol=1e-6)
    assert network.dropout_forward(x, 0.3, mask, training=False) is x


def test_an_epoch_of_numpy_training_on_the_digits_equals_keras_fit_batch_by_batch():
    """A tf.data.Dataset keeps the float64 inputs (fit casts NumPy arrays to float32); Keras logs the running sample-weighted mean."""
    data = digits_split()
    x, labels = data["train"]
    params = network.mlp_init([64, 32, 10], np.random.default_rng(3))
    model = ref.dense_mlp(params)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss=ref.sparse_cross_entropy("float64"))
    batch_size = 64
    batches = [np.arange(len(x))[i:i + batch_size] for i in range(0, len(x), batch_size)]
    trained, _, losses = network.train_epoch(params, x, labels, batches, optimizers.sgd_update, optimizers.sgd_init(params),
                                              float(np.float32(0.05)), momentum=float(np.float32(0.9)))
    history = model.fit(tf.data.Dataset.from_tensor_slices((x, labels)).batch(batch_size), epochs=1, verbose=0, shuffle=False)
    for mine, theirs in zip(trained, model.get_weights()):
        assert np.max(np.abs(mine - theirs)) <= 1e-13, np.max(np.abs(mine - theirs))
    sizes = np.array([len(b) for b in batches])
    assert abs(np.sum(np.array(losses) * sizes) / sizes.sum() - history.history["loss"][0]) <= 1e-6 * history.history["loss"][0]
    assert {name: len(part[1]) for name, part in data.items()} == {"train": 1197, "validation": 300, "test": 300}


def test_sigmoid_is_exact_for_large_inputs_and_accuracy_counts_the_largest_logit():
    z = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow anywhere (underflow to 0 is exact)
        s = network.sigmoid(z)
    assert np.allclose(s, tf.math.sigmoid(tf.constant(z)).numpy(), rtol=1e-14, atol=0)   # a few units of rounding
    params = [np.eye(2), np.zeros(2)]                                 # logits = inputs
    x, labels = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]]), np.array([0, 0, 1])
    assert network.accuracy(params, x, labels) == pytest.approx(2 / 3)


def test_digits_split_without_standardising_gives_the_raw_intensities_of_the_same_split():
    raw, standardised = digits_split(standardise=False), digits_split()
    x, _ = raw["train"]
    assert x.min() == 0 and x.max() == 16 and np.all(x == np.round(x))
    std = x.std(axis=0)
    std[std == 0] = 1.0
    for name in raw:
        assert np.array_equal(raw[name][1], standardised[name][1])
        assert np.array_equal((raw[name][0] - x.mean(axis=0)) / std, standardised[name][0])
