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
