"""Chapter 6's exercise through the grader: solution, blank, the classic wrong versions of each piece, honest variants."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "06_backpropagation"
CELLS = {"test_dense": 2, "test_relu_backward": 1, "test_softmax_cross_entropy": 3, "test_batch_norm": 3, "test_dropout": 2,
         "test_l2_penalty_gradient": 1, "test_model_gradients": 3, "test_train_epoch": 3,
         "test_digits_experiment": 2}

CELLS["test_label_smoothing"] = 2

# the derivation's honest variants
UNDERSTANDING = understanding_catalogue(CHAPTER, {"label_smoothing": ['''
def label_smoothing_gradient(logits, labels, label_smoothing):
    n, k = logits.shape
    onehot = np.eye(k)[labels]
    targets = onehot * (1 - label_smoothing) + label_smoothing / k
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.sum(np.exp(log_p), axis=1, keepdims=True))
    return (np.exp(log_p) - targets) / n
''', '''
def label_smoothing_gradient(logits, labels, label_smoothing):
    # the gradient of Part 3 (epsilon = 0) plus what the smoothing moves: eps (onehot - 1/K) / n
    n, k = logits.shape
    _, plain = softmax_cross_entropy(logits, labels)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    return plain + label_smoothing * (onehot - 1.0 / k) / n
''', '''
def label_smoothing_gradient(logits, labels, label_smoothing):
    grads = []
    for row, label in zip(logits, labels):
        p = np.exp(row - row.max())
        p = p / p.sum()
        target = np.full(row.shape, label_smoothing / row.size)
        target[label] += 1 - label_smoothing
        grads.append((p - target) / len(labels))
    return np.array(grads)
''']})
CELLS.update(UNDERSTANDING["cells"])



def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


NAIVE_SOFTMAX = '''
def softmax_cross_entropy(logits, labels):
    n = len(labels)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.log(probabilities[np.arange(n), labels]).mean()
    dlogits = probabilities.copy()
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n
'''

# student -> (cell, source, graded cells that must score 0); model_gradients is checked with the course's dense, ReLU,
# softmax and L2 pieces, so each mistake costs its own cell only
WRONG_ANSWERS = {
    # the derivation of label smoothing's gradient
    "smoothing_over_the_other_classes": ("label_smoothing", mutate("label_smoothing", "label_smoothing / classes)",
                                                                   "label_smoothing / (classes - 1))").replace(
        "soft_targets[np.arange(rows), labels] += 1.0 - label_smoothing", "soft_targets[np.arange(rows), labels] = 1.0 - label_smoothing"),
        {"test_label_smoothing"}),
    "smoothing_not_divided_by_n": ("label_smoothing", mutate("label_smoothing", "- soft_targets) / rows", "- soft_targets)"),
                                   {"test_label_smoothing"}),
    "smoothing_ignored": ("label_smoothing", mutate("label_smoothing", "soft_targets = np.full(logits.shape, label_smoothing / classes)",
                                                    "soft_targets = np.zeros(logits.shape)").replace("+= 1.0 - label_smoothing", "+= 1.0"),
                          {"test_label_smoothing"}),
    **UNDERSTANDING["wrong_answers"],
    # the dense layer
    "dense_without_bias": ("dense", mutate("dense", "return x @ kernel + bias", "return x @ kernel"), {"test_dense"}),
    "dense_bias_gradient_averaged": ("dense", mutate("dense", "dz.sum(axis=0)", "dz.mean(axis=0)"), {"test_dense"}),
    "dense_kernel_gradient_transposed": ("dense", mutate("dense", "x.T @ dz", "dz.T @ x"), {"test_dense"}),
    "dense_dx_without_transpose": ("dense", mutate("dense", "dz @ kernel.T", "dz @ kernel"), {"test_dense"}),
    "dense_kernel_gradient_divided_by_n": ("dense", mutate("dense", "x.T @ dz", "x.T @ dz / len(x)"), {"test_dense"}),
    # ReLU
    "relu_derivative_one_at_zero": ("relu_backward", mutate("relu_backward", "dh * (z > 0)", "dh * (z >= 0)"), {"test_relu_backward"}),
    "relu_without_upstream": ("relu_backward", mutate("relu_backward", "return dh * (z > 0)", "return (z > 0).astype(z.dtype)"),
                              {"test_relu_backward"}),
    # softmax cross-entropy
    "softmax_loss_summed": ("softmax_cross_entropy", mutate("softmax_cross_entropy", "loss = -picked.mean()",
                                                            "loss = -picked.sum()"), {"test_softmax_cross_entropy"}),
    "softmax_gradient_not_divided": ("softmax_cross_entropy", mutate("softmax_cross_entropy", "return float(loss), grad / count",
                                                                     "return float(loss), grad"), {"test_softmax_cross_entropy"}),
    # passes the visible check (logits up to 7); the hidden logits up to 700 overflow exp
    "softmax_without_max_subtraction": ("softmax_cross_entropy", NAIVE_SOFTMAX, {"test_softmax_cross_entropy"}),
    # batch normalisation
    "batch_norm_variance_ddof_1": ("batch_norm", mutate("batch_norm", "mean, variance = x.mean(axis=0), x.var(axis=0)",
                                                        "mean, variance = x.mean(axis=0), x.var(axis=0, ddof=1)"), {"test_batch_norm"}),
    "batch_norm_epsilon_outside": ("batch_norm", mutate("batch_norm", "return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta,",
                                                        "return gamma * (x - mean) / (np.sqrt(variance) + epsilon) + beta,"),
                                   {"test_batch_norm"}),
    "batch_norm_momentum_swapped": ("batch_norm", mutate("batch_norm", "moving_mean = momentum * moving_mean + (1 - momentum) * mean",
                                                         "moving_mean = (1 - momentum) * moving_mean + momentum * mean").replace(
        "moving_variance = momentum * moving_variance + (1 - momentum) * variance",
        "moving_variance = (1 - momentum) * moving_variance + momentum * variance"), {"test_batch_norm"}),
    "batch_norm_batch_statistics_at_inference": ("batch_norm", mutate("batch_norm", '''    else:
        mean, variance = moving_mean, moving_variance''', '''    else:
        mean, variance = x.mean(axis=0), x.var(axis=0)'''), {"test_batch_norm"}),
    "batch_norm_backward_without_batch_terms": ("batch_norm", mutate("batch_norm", "dx = gamma / sigma * (dy - dy.mean(axis=0) - x_hat * (dy * "
                                                                                   "x_hat).mean(axis=0))", "dx = gamma / sigma * dy"),
                                                {"test_batch_norm"}),
    # dropout
    "dropout_scaled_at_inference": ("dropout", mutate("dropout", "if training else x", "if training else x * (1 - rate)"), {"test_dropout"}),
    "dropout_not_scaled": ("dropout", mutate("dropout", "return x * mask / (1 - rate) if training", "return x * mask if training"),
                           {"test_dropout"}),
    "dropout_keeps_with_probability_rate": ("dropout", mutate("dropout", "return rng.random(shape) >= rate", "return rng.random(shape) < rate"),
                                            {"test_dropout"}),
    # the L2 penalty
    "l2_without_factor_2": ("l2", mutate("l2", "return [2 * l2 * k for k in kernels]", "return [l2 * k for k in kernels]"),
                            {"test_l2_penalty_gradient"}),
    # a whole model
    # ReLU on every layer, the last one included, forward and backward
    "model_relu_on_the_logits": ("model_gradients", mutate("model_gradients", "h = np.maximum(z, 0) if layer + 1 < len(kernels) else z",
                                                           "h = np.maximum(z, 0)").replace(
        "    loss, dz = softmax_cross_entropy(h, labels)",
        "    loss, dz = softmax_cross_entropy(h, labels)\n    dz = relu_backward(dz, pre_activations[-1])"), {"test_model_gradients"}),
    # only the hidden test with l2 > 0 sees it
    "model_l2_on_the_biases": ("model_gradients", mutate("model_gradients", "grads[0::2] = [g + r for g, r in zip(grads[0::2], "
                                                                            "l2_penalty_gradient(kernels, l2))]",
                                                         "grads = [g + 2 * l2 * p for g, p in zip(grads, params)]"), {"test_model_gradients"}),
    # an epoch of training
    "train_state_created_per_batch": ("train_epoch", mutate("train_epoch", "    state = sgd_init(params)\n    losses = []\n",
                                                            "    losses = []\n").replace(
        "        loss, grads = model_gradients(", "        state = sgd_init(params)\n        loss, grads = model_gradients("),
        {"test_train_epoch"}),
    "train_momentum_not_passed": ("train_epoch", mutate("train_epoch", "sgd_update(params, grads, state, learning_rate, momentum=momentum)",
                                                        "sgd_update(params, grads, state, learning_rate)"), {"test_train_epoch"}),
    "train_last_batch_dropped": ("train_epoch", mutate("train_epoch", "for start in range(0, len(x), batch_size):",
                                                       "for start in range(0, len(x) - batch_size + 1, batch_size):"), {"test_train_epoch"}),
    # the experiment: a single epoch is too little; a network beyond the budget
    "experiment_one_epoch": ("experiment", mutate("experiment", "for epoch in range(20):", "for epoch in range(1):"),
                             {"test_digits_experiment"}),
    "experiment_over_budget": ("experiment", mutate("experiment", "sizes = [64, 64, 10]", "sizes = [64, 512, 10]"),
                               {"test_digits_experiment"}),
}

DIAGNOSES = [
    ("smoothing_over_the_other_classes", "test_label_smoothing", "over all K classes"),
    ("smoothing_not_divided_by_n", "test_label_smoothing", "divided by n"),
    ("smoothing_ignored", "test_label_smoothing", "label smoothing changes the target"),
    *UNDERSTANDING["diagnoses"],
    ("dense_without_bias", "test_dense", "the bias is missing"),
    ("dense_bias_gradient_averaged", "test_dense", "not its mean", ("divided by the batch size",)),
    ("dense_kernel_gradient_transposed", "test_dense", "dkernel is transposed", ("dx uses the kernel itself",)),
    ("dense_dx_without_transpose", "test_dense", "dx uses the kernel itself", ("dkernel is transposed",)),
    ("dense_kernel_gradient_divided_by_n", "test_dense", "dkernel was divided by the batch size", ("not its mean",)),
    ("relu_derivative_one_at_zero", "test_relu_backward", "not z >= 0", ("upstream gradient",)),
    ("relu_without_upstream", "test_relu_backward", "multiply it by the upstream gradient dh", ("not z >= 0",)),
    ("softmax_loss_summed", "test_softmax_cross_entropy", "sum over the batch", ("not divided by the batch size",)),
    ("softmax_gradient_not_divided", "test_softmax_cross_entropy", "not divided by the batch size", ("sum over the batch",)),
    ("softmax_without_max_subtraction", "test_softmax_cross_entropy", "the softmax was computed first, then its log"),
    ("batch_norm_variance_ddof_1", "test_batch_norm", "ddof=1", ("inside the square root", "momentum weighs")),
    ("batch_norm_epsilon_outside", "test_batch_norm", "inside the square root", ("ddof=1",)),
    ("batch_norm_momentum_swapped", "test_batch_norm", "momentum weighs the old moving statistic", ("ddof=1",)),
    ("batch_norm_batch_statistics_at_inference", "test_batch_norm", "at inference the moving statistics normalise x"),
    ("batch_norm_backward_without_batch_terms", "test_batch_norm", "dx lacks the terms"),
    ("dropout_scaled_at_inference", "test_dropout", "at inference Keras's dropout is the identity", ("1 / (1 - rate)",)),
    ("dropout_not_scaled", "test_dropout", "scaled by 1 / (1 - rate)", ("identity",)),
    ("dropout_keeps_with_probability_rate", "test_dropout", "keeps units with probability rate"),
    ("l2_without_factor_2", "test_l2_penalty_gradient", "the factor 2 is missing", ("l2 is missing",)),
    ("model_relu_on_the_logits", "test_model_gradients", "ReLU was applied to the last layer", ("biases",)),
    ("model_l2_on_the_biases", "test_model_gradients", "applied to the biases too", ("last layer",)),
    ("train_state_created_per_batch", "test_train_epoch", "the momentum has no effect", ("last, smaller batch",)),
    ("train_momentum_not_passed", "test_train_epoch", "the momentum has no effect", ("last, smaller batch",)),
    ("experiment_one_epoch", "test_digits_experiment", "the bar is 95%"),
    ("experiment_over_budget", "test_digits_experiment", "the budget is 20000"),
    ("train_last_batch_dropped", "test_train_epoch", "the last, smaller batch is part of the epoch", ("momentum has no effect",)),
]

# Correct implementations written differently from the solution: each notebook must keep full marks.
HONEST = {
    # loops, np.where, Python floats, lists for results, the full chain rule of batch normalisation
    "by_hand": {
        "experiment": '''
def train_digits(x_train, y_train, x_validation, y_validation):
    rng = np.random.default_rng(1)
    params = []
    for fan_in, fan_out in ((64, 48), (48, 32), (32, 10)):      # two hidden layers, no weight decay
        params.append(rng.standard_normal((fan_in, fan_out)) * (2.0 / fan_in) ** 0.5)
        params.append(np.zeros(fan_out))
    for epoch in range(25):
        order = rng.permutation(x_train.shape[0])
        params, losses = train_epoch(params, x_train[order], y_train[order], batch_size=50, learning_rate=0.05, momentum=0.9)
    return params
''',
        "dense": '''
def dense_forward(x, kernel, bias):
    out = np.empty((x.shape[0], kernel.shape[1]), dtype=np.result_type(x, kernel))
    for i in range(x.shape[0]):
        out[i] = x[i] @ kernel + bias
    return out

def dense_backward(dz, x, kernel):
    dkernel = np.zeros(kernel.shape, dtype=dz.dtype)
    for i in range(x.shape[0]):                 # a sum of outer products, one per example
        dkernel += np.outer(x[i], dz[i])
    return [np.dot(dz, kernel.T), dkernel, np.add.reduce(dz, axis=0)]
''',
        "relu_backward": '''
def relu_backward(dh, z):
    return np.where(z > 0, dh, np.zeros_like(dh))
''',
        "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, labels):
    n, total = len(labels), 0.0
    dlogits = np.empty_like(logits)
    for i in range(n):
        row = logits[i] - np.max(logits[i])
        log_normaliser = np.log(np.sum(np.exp(row)))
        total += log_normaliser - row[labels[i]]
        dlogits[i] = np.exp(row - log_normaliser) / n
        dlogits[i, labels[i]] -= 1.0 / n
    return total / n, dlogits
''',
        "batch_norm": '''
def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training, momentum=0.99, epsilon=1e-3):
    if not training:
        return (x - moving_mean) * (gamma / np.sqrt(moving_variance + epsilon)) + beta, moving_mean, moving_variance
    n = x.shape[0]
    mean = np.sum(x, axis=0) / n
    variance = np.sum((x - mean) ** 2, axis=0) / n
    new_mean = moving_mean + (mean - moving_mean) * (1.0 - momentum)
    new_variance = moving_variance + (variance - moving_variance) * (1.0 - momentum)
    return (x - mean) * (gamma / np.sqrt(variance + epsilon)) + beta, new_mean, new_variance

def batch_norm_backward(dy, x, gamma, epsilon=1e-3):
    # the computational graph step by step: x_hat, then the variance, then the mean
    n = x.shape[0]
    mean = x.mean(axis=0)
    centred = x - mean
    variance = (centred ** 2).mean(axis=0)
    inverse_std = 1.0 / np.sqrt(variance + epsilon)
    x_hat = centred * inverse_std
    dx_hat = dy * gamma
    dvariance = np.sum(dx_hat * centred, axis=0) * -0.5 * inverse_std ** 3
    dmean = -np.sum(dx_hat * inverse_std, axis=0) - 2.0 * dvariance * np.sum(centred, axis=0) / n
    dx = dx_hat * inverse_std + dvariance * 2.0 * centred / n + dmean / n
    return dx, np.sum(dy * x_hat, axis=0), np.sum(dy, axis=0)
''',
        "dropout": '''
def dropout_mask(shape, rate, rng):
    return rng.uniform(size=shape) < 1.0 - rate

def dropout_forward(x, rate, mask, training):
    if not training:
        return x
    return np.where(mask, x / (1.0 - rate), 0.0)
''',
        "l2": '''
def l2_penalty_gradient(kernels, l2):
    grads = []
    for kernel in kernels:
        grads.append(kernel * (l2 + l2))
    return grads
''',
        "model_gradients": '''
def model_gradients(params, x, labels, l2=0.0):
    layers = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    activations, pre = [x], []
    for number, (kernel, bias) in enumerate(layers):
        pre.append(dense_forward(activations[-1], kernel, bias))
        activations.append(pre[-1] if number == len(layers) - 1 else np.where(pre[-1] > 0, pre[-1], 0.0))
    loss, upstream = softmax_cross_entropy(activations[-1], labels)
    grads = []
    for number in range(len(layers) - 1, -1, -1):
        kernel, _ = layers[number]
        if number < len(layers) - 1:
            upstream = relu_backward(upstream, pre[number])
        upstream, dkernel, dbias = dense_backward(upstream, activations[number], kernel)
        grads = [dkernel + 2.0 * l2 * kernel, dbias] + grads
    return loss + l2 * sum(float(np.vdot(k, k)) for k, _ in layers), grads
''',
        "train_epoch": '''
def train_epoch(params, x, labels, batch_size, learning_rate, momentum=0.0, l2=0.0):
    state, losses, start = sgd_init(params), [], 0
    while start < x.shape[0]:
        stop = min(start + batch_size, x.shape[0])
        loss, grads = model_gradients(params, x[start:stop], labels[start:stop], l2=l2)
        losses.append(float(loss))
        params, state = sgd_update(params, grads, state, learning_rate, momentum)
        start = stop
    return params, losses
''',
    },
    # einsum and logaddexp, float64 inside, the textbook variance mean(x**2) - mean(x)**2, a binomial mask, namedtuples
    "rearranged": {
        "experiment": '''
def train_digits(x_train, y_train, x_validation, y_validation):
    rng = np.random.default_rng(7)
    kernel_1 = rng.normal(size=(64, 96)) * np.sqrt(2 / 64)
    kernel_2 = rng.normal(size=(96, 10)) * np.sqrt(2 / 96)
    params = [kernel_1, np.zeros(96), kernel_2, np.zeros(10)]
    for epoch in range(15):                                     # a learning rate that halves every 5 epochs
        shuffled = rng.permutation(len(y_train))
        params, _ = train_epoch(params, x_train[shuffled], y_train[shuffled], 16, 0.1 * 0.5 ** (epoch // 5), momentum=0.5, l2=0.0)
    return list(params)
''',
        "dense": '''
def dense_forward(x, kernel, bias):
    return np.einsum("ni,io->no", x, kernel) + bias[None, :]

def dense_backward(dz, x, kernel):
    return np.einsum("no,io->ni", dz, kernel), np.einsum("ni,no->io", x, dz), np.einsum("no->o", dz)
''',
        "relu_backward": '''
def relu_backward(dh, z):
    gate = np.heaviside(z, 0.0).astype(dh.dtype)     # 0 at z = 0, as TensorFlow
    return gate * dh
''',
        "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, labels):
    n = logits.shape[0]
    log_normaliser = np.logaddexp.reduce(logits, axis=1, keepdims=True)
    log_p = logits - log_normaliser
    onehot = np.zeros_like(logits)
    onehot[np.arange(n), labels] = 1
    return float(-(log_p * onehot).sum() / n), (np.exp(log_p) - onehot) / n
''',
        "batch_norm": '''
def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training, momentum=0.99, epsilon=1e-3):
    if training:
        mean = x.mean(axis=0)
        variance = (x * x).mean(axis=0) - mean * mean            # the textbook formula
        moving_mean = moving_mean * momentum + mean * (1 - momentum)
        moving_variance = moving_variance * momentum + variance * (1 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
    inverse = gamma / np.sqrt(variance + epsilon)
    return x * inverse + (beta - mean * inverse), moving_mean, moving_variance

def batch_norm_backward(dy, x, gamma, epsilon=1e-3):
    n = len(x)
    x_hat = (x - x.mean(0)) / np.sqrt(x.var(0) + epsilon)
    dgamma, dbeta = np.einsum("nd,nd->d", dy, x_hat), dy.sum(0)
    dx = (gamma / np.sqrt(x.var(0) + epsilon)) / n * (n * dy - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
''',
        "dropout": '''
def dropout_mask(shape, rate, rng):
    return rng.binomial(1, 1 - rate, size=shape).astype(bool)

def dropout_forward(x, rate, mask, training):
    return x * (mask * (1 / (1 - rate))) if training else x.copy()
''',
        "l2": '''
def l2_penalty_gradient(kernels, l2):
    return list(map(lambda k: np.multiply(2 * l2, k), kernels))
''',
        "model_gradients": '''
from collections import namedtuple

Layer = namedtuple("Layer", "input pre_activation")

def model_gradients(params, x, labels, l2=0.0):
    cache, h = [], np.asarray(x, dtype=np.float64)
    count = len(params) // 2
    for layer in range(count):
        z = dense_forward(h, params[2 * layer], params[2 * layer + 1])
        cache.append(Layer(h, z))
        h = z if layer == count - 1 else np.maximum(z, 0.0)
    loss, dz = softmax_cross_entropy(h, labels)
    penalty = l2_penalty_gradient(params[0::2], l2)
    grads = [None] * len(params)
    for layer in reversed(range(count)):
        dh, dkernel, dbias = dense_backward(dz, cache[layer].input, params[2 * layer])
        grads[2 * layer], grads[2 * layer + 1] = dkernel + penalty[layer], dbias
        dz = relu_backward(dh, cache[layer - 1].pre_activation) if layer else None
    return loss + l2 * sum((k ** 2).sum() for k in params[0::2]), tuple(grads)
''',
        "train_epoch": '''
def train_epoch(params, x, labels, batch_size, learning_rate, momentum=0.0, l2=0.0):
    batches = [(x[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(labels), batch_size)]
    state = sgd_init(list(params))
    results = [None] * len(batches)
    for number, (xb, yb) in enumerate(batches):
        results[number], grads = model_gradients(params, xb, yb, l2)
        params, state = sgd_update(params, grads, state, learning_rate=learning_rate, momentum=momentum)
    return tuple(params), results
''',
    },
    # one helper cell of the student's own, everything inline (model_gradients calls none of the other parts)
    "self_contained": {
        "experiment": '''
def train_digits(x_train, y_train, x_validation, y_validation):
    # plain mini-batch SGD written out with this notebook's model_gradients; keeps the best epoch on the validation split
    rng = np.random.default_rng(3)
    params = [rng.normal(0, np.sqrt(2 / 64), (64, 40)), np.zeros(40), rng.normal(0, np.sqrt(2 / 40), (40, 10)), np.zeros(10)]
    best, best_accuracy = params, -1.0
    for epoch in range(30):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 20):
            batch = order[start:start + 20]
            _, grads = model_gradients(params, x_train[batch], y_train[batch], 1e-4)
            params = [p - 0.1 * g for p, g in zip(params, grads)]
        h = np.maximum(x_validation @ params[0] + params[1], 0) @ params[2] + params[3]
        accuracy = np.mean(h.argmax(axis=1) == y_validation)
        if accuracy > best_accuracy:
            best, best_accuracy = params, accuracy
    return best
''',
        "dense": '''
def dense_forward(x, kernel, bias):
    return np.matmul(x, kernel) + bias

def dense_backward(dz, x, kernel):
    dx = np.matmul(dz, np.transpose(kernel))
    dkernel = np.matmul(np.transpose(x), dz)
    return dx, dkernel, np.ones(len(dz)) @ dz
''',
        "relu_backward": '''
def relu_backward(dh, z):
    out = dh.copy()
    out[~(z > 0)] = 0
    return out
''',
        "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, labels):
    n = len(labels)
    top = np.max(logits, axis=-1, keepdims=True)
    exps = np.exp(logits - top)
    sums = exps.sum(axis=-1, keepdims=True)
    picked = logits[np.arange(n), labels] - top[:, 0] - np.log(sums[:, 0])
    grad = exps / sums
    grad[np.arange(n), labels] = grad[np.arange(n), labels] - 1
    return -np.mean(picked), grad * (1 / n)
''',
        "batch_norm": '''
def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training, momentum=0.99, epsilon=1e-3):
    statistics = (x.mean(axis=0), x.std(axis=0) ** 2) if training else (moving_mean, moving_variance)
    y = gamma * (x - statistics[0]) / np.sqrt(statistics[1] + epsilon) + beta
    if not training:
        return y, moving_mean, moving_variance
    return (y, momentum * moving_mean + (1 - momentum) * statistics[0], momentum * moving_variance + (1 - momentum) * statistics[1])

def batch_norm_backward(dy, x, gamma, epsilon=1e-3):
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    inverse_std = (centred.var(axis=0) + epsilon) ** -0.5
    x_hat = centred * inverse_std
    dx = gamma * inverse_std * (dy - dy.sum(axis=0) / n - x_hat * (dy * x_hat).sum(axis=0) / n)
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
''',
        "dropout": '''
def dropout_mask(shape, rate, rng):
    return rng.random(size=shape) > rate

def dropout_forward(x, rate, mask, training):
    scale = 1.0 / (1.0 - rate)
    return np.multiply(x, mask) * scale if training else x
''',
        "l2": '''
def l2_penalty_gradient(kernels, l2):
    return [np.asarray(k) * float(2 * l2) for k in kernels]
''',
        "model_gradients": '''
def model_gradients(params, x, labels, l2=0.0):
    n, hs, zs = len(labels), [x], []
    for i in range(0, len(params), 2):
        zs.append(hs[-1] @ params[i] + params[i + 1])
        hs.append(np.maximum(zs[-1], 0) if i + 2 < len(params) else zs[-1])
    logits = hs[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(n), labels].mean() + l2 * sum(np.sum(params[i] ** 2) for i in range(0, len(params), 2))
    delta = np.exp(log_p)
    delta[np.arange(n), labels] -= 1
    delta /= n
    grads = []
    for i in range(len(params) - 2, -1, -2):
        grads = [hs[i // 2].T @ delta + 2 * l2 * params[i], delta.sum(axis=0)] + grads
        if i:
            delta = (delta @ params[i].T) * (zs[i // 2 - 1] > 0)
    return loss, grads
''',
        # SGD with momentum written out (Keras's form), no call to the course's optimizer
        "train_epoch": '''
def train_epoch(params, x, labels, batch_size, learning_rate, momentum=0.0, l2=0.0):
    params = [np.array(p, dtype=np.float64) for p in params]
    velocities = [np.zeros_like(p) for p in params]
    losses = []
    for start in range(0, len(x), batch_size):
        loss, grads = model_gradients(params, x[start:start + batch_size], labels[start:start + batch_size], l2)
        losses.append(loss)
        if momentum:
            velocities = [momentum * v - learning_rate * g for v, g in zip(velocities, grads)]
            params = [p + v for p, v in zip(params, velocities)]
        else:
            params = [p - learning_rate * g for p, g in zip(params, grads)]
    return params, losses
''',
    },
}

HONEST.update(UNDERSTANDING["honest"])
globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                                       honest={name: variant_notebook(CHAPTER, sources) for name, sources in HONEST.items()}))
