"""Starting and resuming training from the app: each run trains in a process of its own, which outlives the page
(and the app) that started it and writes everything it learns into its run folder.

The process starts one of two ways, with the same run-folder protocol either way: status.json holds its pid and
heartbeat, a STOP file ends it after the current batch (SIGTERM too, on Linux and macOS), and a stopped or failed
run resumes from its last completed epoch.

- Linux: the warm worker (`hotdog.worker`), with TensorFlow already imported, forks it, so the first chart point
  comes seconds sooner.
- macOS, Windows, Linux with `HOTDOG_NO_FORK=1`, or while no worker is ready: a fresh
  `python -m hotdog train --run-dir RUN`, detached from the app (its own session on Unix; its own process group,
  without a console, on Windows).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hotdog import runs, worker
from hotdog.paths import REPO_DIR
from hotdog.training import TrainConfig, new_run


def start_training_process(config: TrainConfig, runs_dir: Path | None = None) -> runs.Run:
    """Claim a run folder for `config` and train it in a process of its own.

    Args:
        config: the run's settings; None fields take the model's defaults.
        runs_dir: the runs folder (default `$HOTDOG_RUNS_DIR` or `./runs`).

    Returns:
        The claimed run, already `starting`; its status.json names the training process.

    Raises:
        runs.TrainingBusy: another training is running in this runs folder.
        ValueError, data.DataError: bad settings or a dataset that cannot train; no run folder is created.
    """
    run = new_run(config, runs_dir)
    _launch(run)
    return run


def resume_training_process(run: runs.Run) -> runs.Run:
    """Continue a stopped or failed run from its last completed epoch, in a process of its own."""
    runs.reclaim_run(run)
    _launch(run)
    return run


def _launch(run: runs.Run) -> None:
    if worker.submit(run) is None:
        spawn(run)


def spawn(run: runs.Run) -> int:
    """Start `python -m hotdog train --run-dir RUN` for a claimed run, detached from this process; its pid."""
    with open(run.path / runs.LOG, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "hotdog", "train", "--run-dir", str(run.path)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_DIR,
                                   **_detached())
    run.update_status(pid=process.pid)
    return process.pid


def _detached() -> dict:
    """Popen arguments that let the training process outlive the app and ignore its Ctrl+C."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    return {"start_new_session": True}
