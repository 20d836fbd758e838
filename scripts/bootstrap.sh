#!/usr/bin/env bash
# Create (or bring up to date) the course's virtual environment in .venv:
# Python 3.11, every package pinned in requirements.lock, and the course
# package `dlcourse` installed editable. Safe to run again: it does nothing
# when .venv already matches requirements.lock and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PYTHON="$candidate"; break
        fi
    done
fi
if [ -z "$PYTHON" ]; then
    echo "bootstrap: no Python 3.11 found. The instructor's environment (site, grader, tests) needs 3.11: requirements.lock" >&2
    echo "           pins TensorFlow 2.21 and nbgrader for Python 3.11 (any 3.11 patch release, Debian 12's 3.11.2 too)." >&2
    echo "           Install it, or point PYTHON=/path/to/python3.11 at one. A student who only does the exercises can" >&2
    echo "           use Python 3.11, 3.12 or 3.13 and pip install the course package (README, \"Students\")." >&2
    exit 1
fi

# Debian packages the course needs: the grader runs each submission in a
# bubblewrap sandbox as an unprivileged user (bwrap; setpriv from util-linux),
# the browser test of the website drives Debian's Chromium (no browser
# download), and the test of a PostgreSQL gradebook starts Debian's PostgreSQL
# server. Each is installed when its command is missing.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing the Debian packages ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bootstrap: the course needs the Debian packages: ${missing[*]}" >&2
        echo "           (the grading sandbox uses bubblewrap and util-linux, the browser test chromium," >&2
        echo "           the gradebook test postgresql);" >&2
        echo "           install them as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

stamp=".venv/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
echo "bootstrap: installing the pinned packages (requirements.lock) into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
rm -f .venv/.installed-*
touch "$stamp"
echo "bootstrap: environment ready in .venv"
