"""Run a job of student code in a bubblewrap sandbox and collect its events.

The sandbox (Debian's ``bubblewrap``) sees, read-only, only the system
libraries, the Python installation, the virtual environment (without
TensorFlow/Keras) and the ``dlcourse`` package; a private ``/tmp``; its own
network namespace with no interface but loopback (no network), its own
process namespace (killing it kills every process it started) and an
unprivileged user id per worker (``setpriv``), with resource limits on
memory, processes, CPU time, file size and open files. The grader reads the
events with deadlines: a cell or a call that does not finish in time is
stopped and reported.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dlcourse
from dlcourse.grading.sandbox_runner import BLOCKED_COURSE_MODULES, BLOCKED_MODULES

FIRST_UID = 61000


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Seconds are wall-clock."""

    cell_seconds: float = 30.0
    call_seconds: float = 10.0
    memory_bytes: int = 2 * 2**30
    processes: int = 64
    output_bytes: int = 64 * 2**10
    channel_bytes: int = 32 * 2**20
    tmp_bytes: int = 64 * 2**20


@dataclass
class SandboxRun:
    """What came back: the events in order, and how the run ended."""

    events: list = field(default_factory=list)
    ended: str = ""          # "" when the runner said "done"; else why it stopped
    stopped_in: str = ""     # the cell id or call number running when it stopped
    stdout: str = ""


class SandboxUnavailable(RuntimeError):
    """bubblewrap or setpriv is missing or cannot create namespaces here."""


def _parents(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


def course_module_file(module: str) -> Path:
    """The source file of the course's module ``module`` (``"dlcourse.optimizers"``)."""
    return Path(dlcourse.__file__).resolve().parent.parent / (module.replace(".", "/") + ".py")


def sandbox_command(channel_fd: int, uid: int, limits: Limits) -> list[str]:
    """The bwrap + setpriv command line that runs the sandbox runner."""
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    if not bwrap or not setpriv or not shutil.which("prlimit"):
        raise SandboxUnavailable("the grader needs bubblewrap (bwrap), setpriv and prlimit: run scripts/bootstrap.sh, which installs them")
    venv, base = Path(sys.prefix), Path(sys.base_prefix)
    package = Path(dlcourse.__file__).resolve().parent
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and p.startswith(str(venv))))
    command = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
               # the private /tmp first: mounts below may lie under /tmp (a clone in /tmp) and must stay visible
               "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        command += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    made = set()
    for mount in (base, venv, package):
        for parent in _parents(mount):
            if parent not in made and not str(parent).startswith("/usr"):
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        if not str(mount).startswith("/usr"):
            command += ["--ro-bind", str(mount), str(mount)]
            made.add(mount)
    for hidden in BLOCKED_MODULES:
        if (site / hidden).exists():
            command += ["--tmpfs", str(site / hidden)]
    for module in BLOCKED_COURSE_MODULES:  # an empty file in place of the module's source
        command += ["--ro-bind", os.devnull, str(course_module_file(module))]
    command += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--clearenv"]
    environment = {
        "HOME": "/tmp", "PATH": f"{venv}/bin:/usr/bin:/bin", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp",
        "IPYTHONDIR": "/tmp/.ipython", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
    }
    for name, value in environment.items():
        command += ["--setenv", name, value]
    runner = [str(venv / "bin" / "python"), "-m", "dlcourse.grading.sandbox_runner", str(channel_fd)]
    if os.geteuid() != 0:  # an unprivileged grader: bubblewrap maps the grader's own user into a user namespace
        return command[:1] + ["--unshare-user"] + command[1:] + runner
    return command + [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"] + runner


def limits_prefix(limits: Limits) -> list[str]:
    """``prlimit`` (util-linux) with the limits that everything the submission starts inherits.

    (A command prefix rather than a ``preexec_fn``, which is unsafe in a
    process whose worker threads start sandboxes.)
    """
    # RLIMIT_NPROC counts per real user: the sandbox user when the grader is root,
    # else the grader's own processes too
    processes = limits.processes + (0 if os.geteuid() == 0 else len(os.listdir("/proc")))
    cpu = int(limits.cell_seconds * 20 + limits.call_seconds * 50)
    return [shutil.which("prlimit") or "prlimit", f"--as={limits.memory_bytes}", f"--nproc={processes}",
            f"--fsize={limits.tmp_bytes}", "--core=0", "--nofile=256", f"--cpu={cpu}", "--"]


def _drain(stream, keep: int, sink: list) -> None:
    """Read ``stream`` to its end, keeping the first ``keep`` bytes."""
    kept = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if kept < keep:
            sink.append(chunk[: keep - kept])
            kept += len(sink[-1])


def reference_sources() -> list[list[str]]:
    """``[[module name, source], ...]`` of the course's reference modules, in import order (what ``references`` asks for)."""
    return [[module, course_module_file(module).read_text()] for module in BLOCKED_COURSE_MODULES]


@contextlib.contextmanager
def sandbox_slot(slots: int = 512) -> Iterator[int]:
    """A worker number that no other sandbox on this machine uses until the block ends (its user id is ``FIRST_UID`` +
    the number): an exclusive lock on one file per number, taken by processes and threads alike (the local pool, the
    processes of a cluster's workers) and released by the kernel if the holder dies."""
    folder = Path(tempfile.gettempdir()) / f"dlcourse-sandbox-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink() or folder.stat().st_uid != os.geteuid():
        raise SandboxUnavailable(f"{folder} belongs to another user; remove it")
    for number in range(slots):
        descriptor = os.open(folder / str(number), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        try:
            yield number
        finally:
            os.close(descriptor)  # releases the lock
        return
    raise SandboxUnavailable(f"all {slots} sandbox slots of this machine are in use")


def run_job(job: dict, worker: int = 0, limits: Limits = Limits()) -> SandboxRun:
    """Run ``job`` in a fresh sandbox as the unprivileged user of ``worker``; always returns.

    The job goes to the runner's standard input as one line. The runner's
    ``references`` request is answered (once, with :func:`reference_sources`)
    only while a call whose job entry lists ``substitutes`` runs: the plan
    makes those calls after every check of the substituted functions.
    """
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            limits_prefix(limits) + sandbox_command(write_fd, FIRST_UID + worker, limits), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True)
    finally:
        os.close(write_fd)
    output: list[bytes] = []
    drainer = threading.Thread(target=_drain, args=(process.stdout, limits.output_bytes, output), daemon=True)
    drainer.start()
    run = SandboxRun()
    calls, answered = job.get("calls", []), []

    def respond(call_number) -> None:
        if answered or not isinstance(call_number, int) or not 0 <= call_number < len(calls) or not calls[call_number].get("substitutes"):
            return
        answered.append(call_number)
        try:
            process.stdin.write(json.dumps(reference_sources()).encode() + b"\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    try:
        process.stdin.write(json.dumps(job).encode() + b"\n")
        process.stdin.flush()
    except (BrokenPipeError, OSError):
        pass
    _read_events(read_fd, limits, run, respond)
    os.close(read_fd)
    try:
        process.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    if run.ended:  # a deadline passed: no grace
        os.killpg(process.pid, signal.SIGKILL)
    _stop(process)
    drainer.join(timeout=5)
    run.stdout = b"".join(output).decode(errors="replace")
    if not run.ended and not (run.events and run.events[-1].get("event") == "done"):
        code = process.returncode
        signal_number = -code if code < 0 else code - 128 if code > 128 else 0  # bubblewrap reports a signal as 128 + n
        run.ended = (f"the process was killed by signal {signal.Signals(signal_number).name}" if signal_number in signal.valid_signals()
                     else f"the process exited with status {code}")
    return run


def _read_events(read_fd: int, limits: Limits, run: SandboxRun, respond: Callable[[int | None], None] = lambda call: None) -> None:
    """Collect events until ``done``, end of file, or a deadline; on a deadline, say where.

    A ``references`` request is passed to ``respond`` with the number of the call running then (None outside calls).
    """
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    buffer, received = b"", 0
    deadline, where, call = time.monotonic() + limits.cell_seconds, "start-up", None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(timeout=remaining):
            run.ended = f"time limit: not finished within {limits.call_seconds if where.startswith('call') else limits.cell_seconds:g} s"
            run.stopped_in = where
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        received += len(chunk)
        if received > limits.channel_bytes:
            run.ended = "the submission sent more data than the grader accepts"
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                run.ended = "the grader's channel was written to by the submission"
                break
            if not isinstance(event, dict):
                continue
            run.events.append(event)
            kind = event.get("event")
            if kind == "done":
                break
            if kind == "cell_start":
                deadline, where, call = time.monotonic() + limits.cell_seconds, f"cell {event.get('id')}", None
            elif kind == "call_start":
                deadline, where, call = time.monotonic() + limits.call_seconds, f"call {event.get('n')}", event.get("n")
            elif kind == "references":
                respond(call)
        else:
            continue
        break
    selector.close()


def _stop(process: subprocess.Popen) -> None:
    """Kill the sandbox and everything in it (its process namespace dies with it)."""
    try:
        process.wait(timeout=2)  # a runner that finished exits by itself
    except subprocess.TimeoutExpired:
        pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def check_sandbox(limits: Limits = Limits()) -> None:
    """Raise :class:`SandboxUnavailable`, saying why, unless a trivial job runs to its end."""
    run = run_job({"cells": [{"id": "check", "source": "import numpy"}], "calls": []}, 0, limits)
    if run.ended or not any(e.get("event") == "cell_end" and not e.get("error") for e in run.events):
        raise SandboxUnavailable(f"the grading sandbox does not work on this machine: {run.ended or 'numpy failed to import'}\n{run.stdout[-2000:]}")
