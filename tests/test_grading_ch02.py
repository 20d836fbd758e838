"""Chapter 2's exercise through the grader: solution, blank, realistic mistakes, honest variants."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "02_sgd_momentum"
CELLS = {"test_minibatches": 2, "test_sgd": 4, "test_train_epoch": 3, "test_momentum_step": 2}

# the derivation's honest variants: the geometric series summed by a loop, the recursion itself, the sum written out
UNDERSTANDING = understanding_catalogue(CHAPTER, {"momentum_step": ['''
def momentum_step(step, learning_rate, momentum):
    return sum(learning_rate * momentum**k for k in range(step))
''', '''
def momentum_step(step, learning_rate, momentum):
    velocity = 0.0
    for _ in range(step):
        velocity = momentum * velocity - learning_rate * 1.0
    return -velocity
''', '''
def momentum_step(step, learning_rate, momentum):
    powers = np.power(float(momentum), np.arange(step))
    return float(learning_rate * np.sum(powers))
'''],
    "momentum_fix": ['momentum_fix = {"learning_rate": 4 / 121, "momentum": (9 / 11) ** 2}',
                   'momentum_fix = {"momentum": 0.8, "learning_rate": 0.025}',
                   'momentum_fix = dict(learning_rate=0.03, momentum=0.75)']})
CELLS["test_momentum_fix"] = 2
CELLS.update(UNDERSTANDING["cells"])


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


SGD_PYTORCH_FORM = '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    velocity = [momentum * v + g for v, g in zip(state["velocity"], grads)]
    if nesterov:
        steps = [momentum * v + g for v, g in zip(velocity, grads)]
    else:
        steps = velocity
    return [p - learning_rate * s for p, s in zip(params, steps)], {"velocity": velocity}
'''

# student -> (cell, source, graded cells that must score 0)
WRONG_ANSWERS = {
    # the derivation of momentum's steps under a constant gradient
    "momentum_step_limit": ("momentum_step", mutate("momentum_step", "(1.0 - momentum**step) / (1.0 - momentum)", "1.0 / (1.0 - momentum)"),
                            {"test_momentum_step"}),
    "momentum_step_one_term_too_many": ("momentum_step", mutate("momentum_step", "momentum**step", "momentum ** (step + 1)"),
                                        {"test_momentum_step"}),
    "momentum_step_one_term": ("momentum_step", mutate("momentum_step", "return learning_rate * (1.0 - momentum**step) / (1.0 - momentum)",
                                                       "return learning_rate * momentum ** (step - 1)"), {"test_momentum_step"}),
    # the experiment
    "momentum_fix_plain": ("momentum_fix", 'momentum_fix = {"learning_rate": 0.0198, "momentum": 0.0}', {"test_momentum_fix"}),
    "momentum_fix_unstable": ("momentum_fix", 'momentum_fix = {"learning_rate": 0.04, "momentum": 0.6}', {"test_momentum_fix"}),
    "momentum_fix_too_much_momentum": ("momentum_fix", 'momentum_fix = {"learning_rate": 0.01, "momentum": 0.95}', {"test_momentum_fix"}),
    "momentum_fix_missing_key": ("momentum_fix", 'momentum_fix = {"learning_rate": 0.03}', {"test_momentum_fix"}),
    **UNDERSTANDING["wrong_answers"],
    "not_shuffled": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = np.arange(num_examples)
    return [order[i:i + batch_size] for i in range(0, num_examples, batch_size) if not drop_last or i + batch_size <= num_examples]
''', {"test_minibatches"}),
    "drop_last_ignored": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    return [order[i:i + batch_size] for i in range(0, num_examples, batch_size)]
''', {"test_minibatches"}),
    "returns_a_generator": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    stop = num_examples - num_examples % batch_size if drop_last else num_examples
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
''', {"test_minibatches"}),
    # equal to Keras for a constant learning rate: only the checks under a schedule catch it
    "learning_rate_outside_velocity": ("sgd", SGD_PYTORCH_FORM, {"test_sgd"}),
    "nesterov_as_plain_momentum": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    velocity = [momentum * v - learning_rate * g for v, g in zip(state["velocity"], grads)]
    return [p + v for p, v in zip(params, velocity)], {"velocity": velocity}
''', {"test_sgd"}),
    "state_not_carried": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    velocity = [momentum * np.zeros_like(g) - learning_rate * g for g in grads]
    steps = [momentum * v - learning_rate * g for v, g in zip(velocity, grads)] if nesterov else velocity
    return [p + s for p, s in zip(params, steps)], state
''', {"test_sgd"}),
    "updates_in_place": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    for p, g, v in zip(params, grads, state["velocity"]):
        v *= momentum
        v -= learning_rate * g
        p += momentum * v - learning_rate * g if nesterov else v
    return params, state
''', {"test_sgd"}),
    "own_random_generator": ("train_epoch", '''
def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    state = sgd_init(params)
    for indices in minibatches(len(X), batch_size, np.random.default_rng(0), drop_last):
        params, state = sgd_update(params, gradient_fn(params, X[indices], y[indices]), state, learning_rate, momentum, nesterov)
    return params
''', {"test_train_epoch"}),
    "momentum_dropped": ("train_epoch", '''
def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    state = sgd_init(params)
    for indices in minibatches(len(X), batch_size, rng, drop_last):
        params, state = sgd_update(params, gradient_fn(params, X[indices], y[indices]), state, learning_rate)
    return params
''', {"test_train_epoch"}),
    # The mistakes below are each in the function they break (train_epoch is graded with the course's minibatches and sgd).
    # rng.choice draws with replacement: some examples twice, others never
    "drawn_with_replacement": ("minibatches", mutate("minibatches", "order = rng.permutation(num_examples)",
                                                     "order = rng.choice(num_examples, size=num_examples)"), {"test_minibatches"}),
    # np.array_split cuts into k nearly equal parts, not into slices of batch_size
    "array_split_into_equal_parts": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    batches = np.array_split(order, max(num_examples // batch_size, 1))
    return [b for b in batches if len(b) == batch_size or not drop_last]
''', {"test_minibatches"}),
    # >= instead of >: with drop_last a full last batch is dropped too (seen only when batch_size divides num_examples)
    "drops_a_full_last_batch": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order, batches = rng.permutation(num_examples), []
    for start in range(0, num_examples, batch_size):
        if drop_last and start + batch_size >= num_examples:
            break
        batches.append(order[start:start + batch_size])
    return batches
''', {"test_minibatches"}),
    # theta - v: the velocity already holds -lr * g
    "velocity_subtracted": ("sgd", mutate("sgd", "new_params.append(p + (momentum * v - learning_rate * g if nesterov else v))",
                                          "new_params.append(p - (momentum * v - learning_rate * g if nesterov else v))"), {"test_sgd"}),
    # theta + lr * v: the learning rate in the velocity and again in the step
    "learning_rate_twice": ("sgd", mutate("sgd", "new_params.append(p + (momentum * v - learning_rate * g if nesterov else v))",
                                          "new_params.append(p + learning_rate * (momentum * v - learning_rate * g if nesterov else v))"),
                            {"test_sgd"}),
    # the plain momentum step taken, then the Nesterov step added on top of it
    "nesterov_on_top_of_momentum": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    new_params, velocity = [], []
    for p, g, v in zip(params, grads, state["velocity"]):
        v = momentum * v - learning_rate * g
        p = p + v
        if nesterov:
            p = p + momentum * v - learning_rate * g
        new_params.append(p)
        velocity.append(v)
    return new_params, {"velocity": velocity}
''', {"test_sgd"}),
    # the exponentially weighted average of the gradients (Andrew Ng's course), not Keras's velocity
    "moving_average_momentum": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    velocity = [momentum * v + (1 - momentum) * g for v, g in zip(state["velocity"], grads)]
    steps = [momentum * v + (1 - momentum) * g for v, g in zip(velocity, grads)] if nesterov else velocity
    return [p - learning_rate * s for p, s in zip(params, steps)], {"velocity": velocity}
''', {"test_sgd"}),
    "nesterov_not_passed": ("train_epoch", mutate("train_epoch", "momentum=momentum, nesterov=nesterov)", "momentum=momentum)"),
                            {"test_train_epoch"}),
    "state_created_every_batch": ("train_epoch", '''
def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    for indices in minibatches(len(X), batch_size, rng, drop_last):
        state = sgd_init(params)
        grads = gradient_fn(params, X[indices], y[indices])
        params, state = sgd_update(params, grads, state, learning_rate, momentum=momentum, nesterov=nesterov)
    return params
''', {"test_train_epoch"}),
    "gradient_on_all_of_X": ("train_epoch", mutate("train_epoch", "gradient_fn(params, X[indices], y[indices])", "gradient_fn(params, X, y)"),
                             {"test_train_epoch"}),
    # sgd_update returns new arrays: its result is dropped, the parameters never change
    "update_result_discarded": ("train_epoch", '''
def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    state = sgd_init(params)
    for indices in minibatches(len(X), batch_size, rng, drop_last):
        grads = gradient_fn(params, X[indices], y[indices])
        new_params, state = sgd_update(params, grads, state, learning_rate, momentum=momentum, nesterov=nesterov)
    return params
''', {"test_train_epoch"}),
}

HONEST = {
    "minibatches": '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order, batches, start = rng.permutation(num_examples), [], 0
    while start < num_examples:
        batch = order[start:start + batch_size]
        if len(batch) == batch_size or not drop_last:
            batches.append(batch)
        start += batch_size
    return batches
''',
    "sgd": '''
def sgd_init(params):
    return [np.zeros(p.shape) for p in params]          # a list as the state

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    new_state = [momentum * v - learning_rate * g for v, g in zip(state, grads)]
    if nesterov:
        return [p + momentum * v - learning_rate * g for p, v, g in zip(params, new_state, grads)], new_state
    return [p + v for p, v in zip(params, new_state)], new_state
''',
}


DIAGNOSES = [
    ("momentum_step_limit", "test_momentum_step", "that is the limit of the steps", ("one term too many",)),
    ("momentum_step_one_term_too_many", "test_momentum_step", "one term too many", ("limit",)),
    ("momentum_step_one_term", "test_momentum_step", "not one term"),
    ("momentum_fix_plain", "test_momentum_fix", 'shrinks the error by a factor 0.980'),
    ("momentum_fix_unstable", "test_momentum_fix", 'does not converge'),
    ("momentum_fix_too_much_momentum", "test_momentum_fix", 'shrinks the error by a factor'),
    ("momentum_fix_missing_key", "test_momentum_fix", 'must be a dict with the keys'),
    *UNDERSTANDING["diagnoses"],
    ("learning_rate_outside_velocity", "test_sgd", "PyTorch form", ("moving-average form", "applied twice")),
    ("updates_in_place", "test_sgd", "in place"),
    ("not_shuffled", "test_minibatches", "not shuffled", ("with replacement", "array_split")),
    ("drop_last_ignored", "test_minibatches", "must be dropped when drop_last is True", ("a full last batch", "array_split")),
    ("returns_a_generator", "test_minibatches", "a generator"),
    ("nesterov_as_plain_momentum", "test_sgd", "this is plain momentum", ("velocity does not carry over", "you applied both")),
    ("state_not_carried", "test_sgd", "does not carry over", ("plain momentum",)),
    ("own_random_generator", "test_train_epoch", "a random generator of your own", ("not shuffled", "not passed on")),
    ("momentum_dropped", "test_train_epoch", "momentum was not passed on", ("starts again at every batch", "nesterov was not passed")),
    ("drawn_with_replacement", "test_minibatches", "draws with replacement", ("not shuffled", "array_split")),
    ("array_split_into_equal_parts", "test_minibatches", "np.array_split", ("with replacement", "must be kept", "must be dropped")),
    ("drops_a_full_last_batch", "test_minibatches", "a full last batch was dropped", ("must be dropped", "must be kept", "array_split")),
    ("velocity_subtracted", "test_sgd", "already carries the minus sign", ("applied twice", "opposite sign", "PyTorch form")),
    ("learning_rate_twice", "test_sgd", "the learning rate is applied twice", ("minus sign", "PyTorch form", "moving-average form")),
    ("nesterov_on_top_of_momentum", "test_sgd", "you applied both", ("this is plain momentum", "Nesterov's update")),
    ("moving_average_momentum", "test_sgd", "moving-average form", ("PyTorch form", "applied twice")),
    ("nesterov_not_passed", "test_train_epoch", "nesterov was not passed on", ("momentum was not passed on", "starts again")),
    ("state_created_every_batch", "test_train_epoch", "starts again at every batch", ("momentum was not passed on", "nesterov was not")),
    ("gradient_on_all_of_X", "test_train_epoch", "the gradient on all of X", ("not shuffled", "starts again")),
    ("update_result_discarded", "test_train_epoch", "returns the parameters it was given", ("starts again", "not passed on")),
]

# More correct implementations, written differently again: each notebook must keep full marks.
HONEST_AGAIN = {
    # a velocity kept with the opposite sign, a tuple state, the Nesterov step through the old velocity
    "sgd": '''
def sgd_init(params):
    return tuple(np.zeros(np.shape(p)) for p in params)

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    new_params, new_state = [], []
    for p, g, w in zip(params, grads, state):          # w = -v: the step still to be subtracted
        w_new = momentum * w + learning_rate * g
        step = momentum * w_new + learning_rate * g if nesterov else w_new
        new_params.append(p - step)
        new_state.append(w_new)
    return new_params, tuple(new_state)
''',
    # the permutation sliced with np.split, the epoch written with an explicit index
    "minibatches": '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    full = num_examples // batch_size
    batches = list(np.split(order[: full * batch_size], full)) if full else []
    if not drop_last and num_examples % batch_size:
        batches.append(order[full * batch_size:])
    return batches
''',
    "train_epoch": '''
def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    batches = minibatches(X.shape[0], batch_size, rng, drop_last=drop_last)
    state, current = sgd_init(params), [np.array(p) for p in params]
    for i in range(len(batches)):
        current, state = sgd_update(current, gradient_fn(current, X[batches[i]], y[batches[i]]), state,
                                    learning_rate, momentum, nesterov)
    return current
''',
}

# Two more notebooks of correct implementations, each written differently from the solution and from the ones above.
HONEST_CONTAINERS = {
    # the batches from a generator, turned into a list
    "minibatches": '''
def _slices(order, batch_size, drop_last):
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        if drop_last and len(batch) < batch_size:
            return
        yield batch

def minibatches(num_examples, batch_size, rng, drop_last=False):
    return list(_slices(rng.permutation(num_examples), batch_size, drop_last))
''',
    # a dataclass as the state, Python-float hyperparameters, Nesterov in CS231n's form: theta - mu * v_old + (1 + mu) * v_new
    "sgd": '''
from dataclasses import dataclass

@dataclass
class Velocity:
    values: list

def sgd_init(params):
    return Velocity([np.zeros(np.shape(p)) for p in params])

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    lr, mu = float(learning_rate), float(momentum)
    new_params, new_values = [], []
    for p, g, v_old in zip(params, grads, state.values):
        v = mu * v_old - lr * g
        new_params.append(p - mu * v_old + (1 + mu) * v if nesterov else p + v)
        new_values.append(v)
    return new_params, Velocity(new_values)
''',
    # the epoch as a fold over the batches, the (params, state) pair carried as a tuple
    "train_epoch": '''
from functools import reduce

def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    def one_batch(carried, indices):
        current, state = carried
        grads = gradient_fn(current, X[indices], y[indices])
        return sgd_update(current, grads, state, learning_rate, momentum=momentum, nesterov=nesterov)

    final, _ = reduce(one_batch, minibatches(len(X), batch_size, rng, drop_last), (params, sgd_init(params)))
    return list(final)
''',
}

HONEST_REARRANGED = {
    # the full batches as the rows of a reshaped permutation, the rest appended
    "minibatches": '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    full = num_examples // batch_size
    batches = [row for row in order[: full * batch_size].reshape(full, batch_size)]
    rest = order[full * batch_size:]
    if len(rest) and not drop_last:
        batches.append(rest)
    return batches
''',
    # a dict of namedtuples keyed by position, float64 internals, Nesterov expanded: mu^2 v_old - (1 + mu) lr g
    "sgd": '''
from collections import namedtuple

Slot = namedtuple("Slot", ["velocity"])

def sgd_init(params):
    return {i: Slot(np.zeros_like(p, dtype=np.float64)) for i, p in enumerate(params)}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    mu, lr = np.float64(momentum), np.float64(learning_rate)
    new_params, new_state = [], {}
    for i, (p, g) in enumerate(zip(params, grads)):
        v_old = state[i].velocity
        v = mu * v_old - lr * g
        step = mu * mu * v_old - (1 + mu) * lr * g if nesterov else v
        new_params.append(np.asarray(p, dtype=np.float64) + step)
        new_state[i] = Slot(v)
    return new_params, new_state
''',
    # a generator of the parameters after each batch, the last one kept; the batch taken with np.take
    "train_epoch": '''
def _after_each_batch(params, X, y, gradient_fn, batches, learning_rate, momentum, nesterov):
    state = sgd_init(params)
    for indices in batches:
        grads = gradient_fn(params, np.take(X, indices, axis=0), np.take(y, indices))
        params, state = sgd_update(params, grads, state, learning_rate, momentum, nesterov)
        yield params

def train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum=0.0, nesterov=False, drop_last=False):
    batches = minibatches(X.shape[0], batch_size, rng, drop_last)
    history = list(_after_each_batch(params, X, y, gradient_fn, batches, learning_rate, momentum, nesterov))
    return history[-1] if history else params
''',
}


globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES, honest={"honest": variant_notebook(CHAPTER, HONEST),
                                                                    "honest_again": variant_notebook(CHAPTER, HONEST_AGAIN),
                                                                    "honest_containers": variant_notebook(CHAPTER, HONEST_CONTAINERS),
                                                                    "honest_rearranged": variant_notebook(CHAPTER, HONEST_REARRANGED),
                                                                    **{name: variant_notebook(CHAPTER, sources)
                                                                       for name, sources in UNDERSTANDING["honest"].items()}}))
