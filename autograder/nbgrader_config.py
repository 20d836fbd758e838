"""nbgrader configuration shared by every grading workspace of the course.

The course's commands (``course generate``, ``course grade``) load this file
and set ``CourseDirectory.root`` to the workspace they manage; an instructor
who runs nbgrader's own tools (formgrader) inside a grading output folder gets
the same settings from the copy written there.
"""
c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "deep-network-training"

# Student notebooks: the stub left in place of each solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader scores a graded cell 0 as soon as it wrote anything to stderr.
# TensorFlow and NumPy warnings go there; a correct answer must not lose its
# points for them, so every stderr output is dropped before the scoring.
# Failures still count: they are "error" outputs, not stderr streams.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"

# A notebook that runs longer than this per cell is stopped and graded as is.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Feedback pages: the hidden tests' code is removed and an error in a graded
# cell shows only the check's diagnostic message. To show students the hidden
# tests and full tracebacks, drop HideHiddenTests from this list.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "dlcourse.grading.feedback.HideHiddenTests",
]

# nbgrader's own autograde (formgrader's per-student button, `nbgrader autograde`) would run the
# student's code in an ordinary kernel, outside the sandbox: it is refused with the command to use.
c.Autograde.sanitize_preprocessors = ["dlcourse.grading.feedback.RefusePlainAutograde"]
