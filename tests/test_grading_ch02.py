"""Chapter 2's exercise through the grader: solution, blank, realistic mistakes, honest variants."""
from __future__ import annotations

from conftest import chapter_grading_tests, variant_notebook

CHAPTER = "02_sgd_momentum"
CELLS = {"test_minibatches": 2, "test_sgd": 4, "test_train_epoch": 3}

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
    "not_shuffled": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = np.arange(num_examples)
    return [order[i:i + batch_size] for i in range(0, num_examples, batch_size) if not drop_last or i + batch_size <= num_examples]
''', {"test_minibatches", "test_train_epoch"}),
    "drop_last_ignored": ("minibatches", '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = rng.permutation(num_examples)
    return [order[i:i + batch_size] for i in range(0, num_examples, batch_size)]
''', {"test_minibatches", "test_train_epoch"}),
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
''', {"test_sgd", "test_train_epoch"}),
    "state_not_carried": ("sgd", '''
def sgd_init(params):
    return {"velocity": [np.zeros_like(p) for p in params]}

def sgd_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    velocity = [momentum * np.zeros_like(g) - learning_rate * g for g in grads]
    steps = [momentum * v - learning_rate * g for v, g in zip(velocity, grads)] if nesterov else velocity
    return [p + s for p, s in zip(params, steps)], state
''', {"test_sgd", "test_train_epoch"}),
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
    ("learning_rate_outside_velocity", "test_sgd", "PyTorch form"),
    ("updates_in_place", "test_sgd", "in place"),
    ("not_shuffled", "test_minibatches", "not shuffled"),
    ("drop_last_ignored", "test_minibatches", "must be dropped when drop_last is True"),
    ("returns_a_generator", "test_minibatches", "a generator"),
    ("nesterov_as_plain_momentum", "test_sgd", "this is plain momentum", ("velocity does not carry over",)),
    ("state_not_carried", "test_sgd", "does not carry over", ("plain momentum",)),
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

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES, honest={"honest": variant_notebook(CHAPTER, HONEST),
                                                                    "honest_again": variant_notebook(CHAPTER, HONEST_AGAIN)})
