# The course's commands. Each one first brings .venv up to date (scripts/bootstrap.sh).
#   make site        build the website into _build/html (executes the lessons)
#   make test        lint, then run the whole test suite (what CI runs)
#   make check       lint, then the fast tests: everything but the sandboxed grading, the site build,
#                    the browser and JupyterLab (pytest marks grading, site, browser, lab)
#   make lint        ruff on the package and the tests
#   make exercises   regenerate the student notebooks from solutions/
#   make grade SUBMISSIONS=path/to/submitted [OUTPUT=grading] [REGRADE=1] [ROSTER=students.csv]
#   make lab         start JupyterLab on the course (NOTEBOOK=chapters/.../exercises.ipynb opens one)
SHELL := /bin/bash
VENV_BIN := $(CURDIR)/.venv/bin
RUN := PATH="$(VENV_BIN):$$PATH" TF_CPP_MIN_LOG_LEVEL=3
OUTPUT ?= grading

.PHONY: env site test check lint exercises grade lab

env:
	@bash scripts/bootstrap.sh

site: env
	$(RUN) jupyter-book build . -W -n --keep-going
	@echo "The course website is built: open file://$(CURDIR)/_build/html/index.html"

lint: env
	$(RUN) ruff check .

test: lint
	$(RUN) python -m pytest

check: lint
	$(RUN) python -m pytest -m "not grading and not site and not browser and not lab and not install"

exercises: env
	$(RUN) course generate

grade: env
	@if [ -z "$(SUBMISSIONS)" ]; then echo "usage: make grade SUBMISSIONS=path/to/submitted [OUTPUT=grading] [REGRADE=1] [ROSTER=students.csv]" >&2; exit 2; fi
	$(RUN) course grade "$(SUBMISSIONS)" --output "$(OUTPUT)" $(if $(REGRADE),--regrade,) $(if $(ROSTER),--roster "$(ROSTER)",)

# JupyterLab refuses to run as root unless told; containers and CI often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The student's lab: rooted at the course, opening NOTEBOOK, with nbgrader's student tools only (Validate);
# scripts/student-lab turns off the formgrader, course and assignment lists, which need an instructor's set-up.
lab: env
	JUPYTER_CONFIG_PATH=$(CURDIR)/scripts/student-lab $(RUN) jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=$(CURDIR) \
		$(if $(NOTEBOOK),--LabApp.default_url=/lab/tree/$(NOTEBOOK),)
