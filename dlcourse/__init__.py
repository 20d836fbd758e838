"""Code shared by the course's notebooks, exercise checks and grader.

TensorFlow writes start-up messages to stderr (which nbgrader counts as a
failure, and which clutter a notebook). Importing this package sets
``TF_CPP_MIN_LOG_LEVEL`` (unless the caller chose a level) and
:func:`import_tensorflow` imports TensorFlow with the messages that ignore
that setting silenced.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow():
    """Import and return the ``tensorflow`` module, silencing its start-up lines on stderr.

    The C++ runtime prints them straight to file descriptor 2 while the
    module loads, so descriptor 2 points at /dev/null for that moment only.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow


class LazyReference:
    """:mod:`dlcourse.keras_reference`, or one of its attributes (``LazyReference("keras")``, ``LazyReference("tf")``),
    imported when first used: the checks then import with NumPy alone, and only computing a reference needs
    TensorFlow (an :class:`ImportError` says so when it is missing)."""

    def __init__(self, attribute: str | None = None):
        self._attribute = attribute

    def __getattr__(self, name: str):
        import importlib

        try:
            module = importlib.import_module("dlcourse.keras_reference")
        except ImportError as error:
            raise ImportError(f"this check computes its reference with TensorFlow/Keras, which cannot be imported here ({error}); "
                              "install the course's environment (README, Set-up) or `pip install tensorflow==2.21.0`") from error
        target = module if self._attribute is None else getattr(module, self._attribute)
        return getattr(target, name)
