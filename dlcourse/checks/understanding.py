"""Checks of the tasks that ask for understanding rather than transcription: questions with one right option, and derivations.

A student answers a question by assigning the letter of an option in a
solution cell (``answer_warmup = "b"``). The visible check only says whether
the answer has the right form; the answer key and the explanation live in the
hidden tests of the master notebook, so the student's notebook never holds
them. When graded, a wrong answer gets the explanation (and, where the master
gives one, why the chosen option is wrong); a right one gets the explanation
in the feedback too.

A derivation task asks for a function that evaluates the formula the
student derived; :func:`derivation_case` judges it against Keras or the exact
value, naming the usual wrong derivations.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.checks.cases import ANSWER, Case, run_check
from dlcourse.checks.compare import assert_matches, fail, type_name
from dlcourse.checks.recording import recorded


def chosen_option(answer: Any, options: str) -> str:
    """The option letter ``answer`` names: ``"b"``, ``"B"``, ``" b "`` and ``"(b)"`` all name ``"b"``; or a failure saying what is wrong."""
    __tracebackhide__ = True
    listed = ", ".join(f'"{o}"' for o in options)
    if not isinstance(answer, str):
        fail(f"the answer must be the letter of one option as a string ({listed}); it is a {type_name(answer)}: {answer!r}.")
    letter = answer.strip().strip("()").strip().lower()
    if len(letter) != 1 or letter not in options:
        fail(f"the answer {answer!r} is not one of the options {listed}: give the letter of one option.")
    return letter


@recorded
def check_choice(answer: Any, options: str = "abcd", correct: str | None = None, explanation: str = "",
                 wrong: dict[str, str] | None = None) -> None:
    """Check the answer to a question with one right option among ``options`` (letters).

    Without ``correct`` (the visible check) only the form is checked. With it
    (a hidden test), a wrong answer fails with ``wrong[letter]`` (why that
    option is wrong, when given) and ``explanation``; a right one passes and
    the feedback shows ``explanation``.
    """
    __tracebackhide__ = True
    reasons = wrong or {}

    def judge(result, _):
        __tracebackhide__ = True
        letter = chosen_option(result, options)
        if correct is not None and letter != correct:
            why = f" {reasons[letter]}" if letter in reasons else ""
            fail(f"you answered ({letter}); the answer is ({correct}).{why} {explanation}".rstrip())

    if correct is None:
        success = "the answer names one option; the grader judges it and explains it in your feedback."
        remark = ""
    else:
        success = remark = f"({correct}) is right. {explanation}".rstrip()
    run_check((answer,), [Case((), judge, driver=ANSWER, remark=remark)], success)


def derivation_case(args: tuple, expected: Any, mistakes: list, what: str, reference: str, rtol: float, atol: float,
                    substitutes: tuple[str, ...] = (), driver: str | None = None) -> Case:
    """One call of a derived formula's function on ``args`` (or of ``driver`` with it), judged against ``expected``.

    ``mistakes`` are the usual wrong derivations (:class:`~dlcourse.checks.compare.Mistake`) on the same inputs;
    ``rtol``/``atol`` come from the rounding of the reference and of the reasonable ways to evaluate the formula.
    """
    expected = np.asarray(expected, dtype=np.float64)

    def judge(result, _):
        __tracebackhide__ = True
        if np.shape(result) != expected.shape and np.size(result) == expected.size == 1:
            result = np.reshape(result, ())
        assert_matches(result, expected, what=what, reference=reference, rtol=rtol, atol=atol, mistakes=mistakes)

    return Case(args, judge, driver=driver, substitutes=substitutes)


def read_choice(choice: Any, fields: dict[str, tuple[type, ...]]) -> dict:
    """An experiment's choice: a dict with exactly the keys of ``fields``, each value of one of its types; or a failure."""
    __tracebackhide__ = True
    expected = ", ".join(f'"{key}"' for key in fields)
    if not isinstance(choice, dict) or set(choice) != set(fields):
        keys = sorted(map(str, choice)) if isinstance(choice, dict) else None
        fail(f"the choice must be a dict with the keys {expected}; yours is a {type_name(choice)}"
             + (f" with the keys {keys}." if keys is not None else "."))
    for key, types in fields.items():
        value = choice[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            fail(f'the choice\'s "{key}" must be a {" or a ".join(t.__name__ for t in types)}; it is a {type_name(value)}: {value!r}.')
    return dict(choice)


def check_experiment(choice: Any, fields: dict[str, tuple[type, ...]], run, success: str) -> None:
    """Judge an experiment's ``choice`` (a dict of ``fields``) by running it: ``run(values)`` trains with the choice, in the
    grader's own process, and returns what failed (the measurement against the target, and its likely cause) or ``""``."""
    __tracebackhide__ = True

    def judge(result, _):
        __tracebackhide__ = True
        problem = run(read_choice(result, fields))
        if problem:
            fail(problem)

    run_check((choice,), [Case((), judge, driver=ANSWER)], success)


def digits_test_accuracy(sizes: list[int], activation: str, scale: float, optimizer: str, learning_rate: float, epochs: int,
                         batch_size: int = 32, seed: int = 0, **hyperparameters) -> float:
    """Train the course's NumPy MLP (:mod:`dlcourse.network`, layer ``sizes``, kernels from N(0, scale / fan_in)) on the
    digits' training split with the course's ``optimizer`` (``"sgd"``, ``"adam"``, ...), shuffled, and return its accuracy
    on the test split; every random draw comes from ``seed``, so the result is the same at every run. Overflow is silent:
    a diverged run scores what its NaN logits classify."""
    from dlcourse import network, optimizers
    from dlcourse.problems import digits_split

    data = digits_split()
    rng = np.random.default_rng(seed)
    params = network.mlp_init(sizes, rng, scale=scale)
    with np.errstate(all="ignore"):
        params = network.train_shuffled(params, *data["train"], epochs, batch_size, getattr(optimizers, f"{optimizer}_init"),
                                        getattr(optimizers, f"{optimizer}_update"), learning_rate, rng, activation, **hyperparameters)
        return network.accuracy(params, *data["test"], activation)


def check_digits_learning_rate(choice: Any, optimizer: str, setup: dict, step_size: str) -> None:
    """``choice = {"learning_rate": ...}``: the course's ``optimizer`` (``"adam"``, ``"lion"``) trains the ReLU MLP of ``setup``
    (sizes, activation, scale, epochs, bar) on the digits in batches of 32; its test accuracy must reach the bar. A miss
    is explained with ``step_size``, how far one step of the optimizer moves a weight."""
    __tracebackhide__ = True
    from dlcourse.problems import digits_split

    def run(values):
        rate = float(values["learning_rate"])
        if not np.isfinite(rate) or rate <= 0:
            return f"the learning rate must be a positive number; yours is {rate!r}."
        accuracy = digits_test_accuracy(setup["sizes"], setup["activation"], setup["scale"], optimizer, rate, setup["epochs"])
        if accuracy >= setup["bar"]:
            return ""
        steps = setup["epochs"] * -(-len(digits_split()["train"][1]) // 32)   # batches of 32, the last one shorter
        return (f"with learning rate {rate:g}, {optimizer.capitalize()}'s network classifies {accuracy:.1%} of the test digits; "
                f"the bar is {setup['bar']:.0%}. {step_size}: over the {steps} steps of {setup['epochs']} epochs that is up to "
                f"about {steps * rate:.3g} per weight, for weights that start at about 0.2.")

    check_experiment(choice, {"learning_rate": (float, int)}, run,
                     f"your learning rate trains the network past {setup['bar']:.0%} of the test digits with "
                     f"{optimizer.capitalize()}.")
