"""A warm training worker (Linux): TensorFlow already imported, so a run started from the app shows its first batch
seconds sooner than a fresh process that has to `import tensorflow` first (figures in docs/BENCHMARKS.md).

The app calls `ensure_running(runs_dir)` when it starts. The worker (`python -m hotdog.worker --runs-dir DIR`)
imports TensorFlow, Keras and the training code, without initialising TensorFlow's runtime (no device, thread
pool or tensor is created, so forking stays safe), then listens on `DIR/.worker.sock`. For each claimed run
folder it forks a child that becomes what `python -m hotdog train --run-dir RUN` would be: its own session, the
app's environment, the repository as working folder, output into the run's log.txt, `training.train_and_report`
as its whole life. The child trains that one run and exits; nothing it creates ever returns to the worker, so runs
share no state. The run folder contract is unchanged: status.json holds the child's pid before the child starts,
and the heartbeat, STOP file and SIGTERM work as for a spawned process.

Only Linux forks a process that has imported TensorFlow safely (macOS's system frameworks do not survive a fork;
Windows has none), and `HOTDOG_NO_FORK=1` turns the worker off on Linux too: there `available()` is False and
`ensure_running` starts nothing. `submit(run)` answers None whenever no worker can take the run (not available,
none started yet, still importing, code changed since it started, too long a socket path...); `hotdog.launch` then
spawns a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import traceback
from pathlib import Path

from hotdog import runs
from hotdog.locking import try_lock
from hotdog.paths import REPO_DIR

SOCKET_NAME, LOCK_NAME, LOG_NAME = ".worker.sock", ".worker.lock", ".worker.log"
PACKAGE = Path(__file__).resolve().parent
#: Set to 1 to never fork training processes (every run is then spawned as a fresh process).
NO_FORK_ENV = "HOTDOG_NO_FORK"
#: Unix socket paths longer than this cannot be bound (with the terminating NUL: 108 bytes on Linux, 104 on
#: macOS and the BSDs).
MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103
#: Seconds between checks that the app is still there and for finished children to reap.
TICK_S = 1.0
#: How long `submit` waits for the worker's answer (forking takes milliseconds).
ANSWER_TIMEOUT_S = 30.0


def available() -> bool:
    """Whether this system may fork training processes from a warm worker: Linux, unless HOTDOG_NO_FORK is set."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(socket, "AF_UNIX")
            and os.environ.get(NO_FORK_ENV, "").strip().lower() in ("", "0", "false", "no"))


def socket_path(runs_dir: Path) -> Path:
    return Path(runs_dir).resolve() / SOCKET_NAME


def _code_signature() -> list:
    """The library's source files and their modification times: a worker whose code changed must not train."""
    return sorted([path.name, path.stat().st_mtime_ns] for path in PACKAGE.glob("*.py"))


# ---------------------------------------------------------------------------------------------- the app's side


def _ask(runs_dir: Path, request: dict, timeout: float = ANSWER_TIMEOUT_S) -> dict | None:
    """Send one request and return the worker's answer, or None when no worker answers."""
    path = socket_path(runs_dir)
    if not available() or len(str(path)) > MAX_SOCKET_PATH:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(path))
            connection.sendall(json.dumps(request).encode() + b"\n")
            return _read_line(connection)
    except (OSError, ValueError):
        return None


def ping(runs_dir: Path) -> dict | None:
    """{"pid": ...} of the warm worker serving `runs_dir`, or None when none is ready."""
    return _ask(runs_dir, {"command": "ping"}, timeout=5.0)


def ensure_running(runs_dir: Path | None = None) -> None:
    """Start the warm worker for `runs_dir` unless one already answers or none is `available()`; returns at once
    (it warms up alone).

    Safe to call on every page run: a second worker started by a race finds the lock taken and quits.
    """
    runs_dir = Path(runs_dir or runs.default_runs_dir()).resolve()
    if not available() or len(str(socket_path(runs_dir))) > MAX_SOCKET_PATH or ping(runs_dir) is not None:
        return
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / LOG_NAME, "ab") as log:
        subprocess.Popen([sys.executable, "-m", "hotdog.worker", "--runs-dir", str(runs_dir)], stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO_DIR)


def submit(run: runs.Run) -> int | None:
    """Have the warm worker train a claimed run; its pid (already in status.json), or None if no worker took it."""
    answer = _ask(run.path.parent, {"command": "train", "run_dir": str(run.path.resolve()),
                                    "environment": dict(os.environ)})
    if answer is not None:
        return answer.get("pid")
    recorded = runs.read_json(run.path / runs.STATUS).get("pid")
    return recorded if recorded != os.getpid() else None  # a lost answer must not start the run twice


# ---------------------------------------------------------------------------------------------- the worker


def serve(runs_dir: Path, app_pid: int | None = None) -> None:
    """Import everything a training needs, then fork one isolated child per submitted run until the app is gone.

    When the library's code changes on disk the worker starts itself afresh (same pid, new imports), so a run
    never trains with yesterday's code.
    """
    if not available():  # fork and Unix sockets: Linux only; elsewhere every run is a spawned process
        raise SystemExit("the warm training worker runs only on Linux (and not with HOTDOG_NO_FORK=1)")
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    app_pid = app_pid or os.getppid()
    lock = try_lock(runs_dir / LOCK_NAME)
    if lock is None:
        return  # another worker serves this folder
    signature = _code_signature()
    _import_training_code()
    path = socket_path(runs_dir)
    path.unlink(missing_ok=True)  # left by a worker that was killed; we hold the lock, so nobody uses it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    code_changed = False
    try:
        listener.bind(str(path))
        listener.listen()
        print(f"warm training worker {os.getpid()} ready on {path}", flush=True)
        while runs.pid_alive(app_pid) and not code_changed:
            _reap_children()
            if select.select([listener], [], [], TICK_S)[0]:
                connection, _ = listener.accept()
                with connection:
                    _answer(connection, runs_dir, signature, (listener,))
            code_changed = _code_signature() != signature
    finally:
        listener.close()
        path.unlink(missing_ok=True)
    if code_changed:
        print("the library changed on disk: starting afresh", flush=True)
        lock.release()
        os.execv(sys.executable, [sys.executable, "-m", "hotdog.worker", "--runs-dir", str(runs_dir),
                                  "--app-pid", str(app_pid)])


def _import_training_code() -> None:
    """Everything a training process imports, so a child only has to build its model and train."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    from hotdog import data, devices, evaluate, models, training, transfer  # noqa: F401


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _read_line(connection: socket.socket) -> dict | None:
    with connection.makefile("rb") as reader:
        return json.loads(reader.readline() or b"null")


def _answer(connection: socket.socket, runs_dir: Path, signature: list, inherited: tuple) -> None:
    connection.settimeout(5.0)
    try:
        request = _read_line(connection)
        if request.get("command") == "ping":
            answer = {"pid": os.getpid()}
        elif _code_signature() != signature:
            answer = {"error": "the library changed since this worker started; it is restarting"}
        else:
            answer = {"pid": _fork_run(_claimed_run(request, runs_dir), request["environment"],
                                       (*inherited, connection))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        answer = {"error": f"{type(error).__name__}: {error}"}
    try:
        connection.sendall(json.dumps(answer).encode() + b"\n")
    except OSError:
        pass


def _claimed_run(request: dict, runs_dir: Path) -> runs.Run:
    """Only a run folder of our runs folder that the app has just claimed (state starting) is trained."""
    run = runs.Run(Path(request["run_dir"]))
    if run.path.parent != runs_dir or run.status.get("state") != "starting":
        raise ValueError(f"{run.path} is not a run folder waiting to start in {runs_dir}")
    return run


def _fork_run(run: runs.Run, environment: dict, inherited: tuple) -> int:
    """Fork the training child; it starts only once its pid is in status.json, so no one else can start it too."""
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:  # whatever happens, the child never returns into the worker's loop
            os.close(go_write)
            for handle in inherited:
                handle.close()
            if os.read(go_read, 1) == b"1":  # else the worker could not record us: the app spawns a process
                os.close(go_read)
                _become_training_process(run, environment)
        finally:
            os._exit(1)
    os.close(go_read)
    try:
        run.update_status(pid=pid)
        os.write(go_write, b"1")
    finally:
        os.close(go_write)
    return pid


def _become_training_process(run: runs.Run, environment: dict) -> None:
    """In the child: turn into `python -m hotdog train --run-dir RUN` started by the app, and never return."""
    code = 1
    try:
        os.setsid()
        for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(REPO_DIR)
        os.environ.clear()
        os.environ.update(environment)
        log = os.open(run.path / runs.LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (log, 1), (log, 2)):
            os.dup2(source, target)
        os.close(log)
        os.close(null)
        from hotdog import training

        code = training.train_and_report(run)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hotdog.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=None, help="the runs folder this worker serves")
    parser.add_argument("--app-pid", type=int, default=None, help="quit when this process ends (default: parent)")
    args = parser.parse_args(argv)
    serve(args.runs_dir or runs.default_runs_dir(), args.app_pid)


if __name__ == "__main__":
    main()
