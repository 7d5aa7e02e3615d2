"""Run folders: everything a training run knows lives on disk, so any page, tab or restart can read it back.

    RUNS_DIR/<run-id>/
        config.json      every setting, the dataset and its fingerprint, library versions
        status.json      running | completed | stopped | failed, times, device, pid, heartbeat (atomic writes)
        metrics.jsonl    one JSON object per batch / epoch event, appended and flushed at once
        model.keras      the best epoch on validation loss
        last.keras       the last completed epoch, with optimizer state, for --resume
        tensorboard/     TensorBoard logs
        evaluations/     per-photo scores of each labelled folder the run was evaluated on (`hotdog.evaluate`)
        log.txt          the training process's console, when started from the app
        STOP             present = please stop after the current batch

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import psutil

from hotdog import atomic, runfiles
from hotdog.locking import file_lock

CONFIG, STATUS, METRICS = "config.json", "status.json", "metrics.jsonl"
BEST_MODEL, LAST_MODEL, STOP, LOG, TENSORBOARD = "model.keras", "last.keras", "STOP", "log.txt", "tensorboard"
STATUS_LOCK = ".status.lock"
ACTIVE_STATES = ("starting", "running")
#: A running run whose heartbeat is older than this is reported as failed.
HEARTBEAT_TIMEOUT_S = 120.0


class TrainingBusy(RuntimeError):
    """Another training is already running on this server."""

    def __init__(self, run: "Run") -> None:
        super().__init__(f"a training is already running: {run.id} (started {run.status.get('started_at', '?')}); "
                         f"stop it or wait for it to finish")
        self.run = run


def default_runs_dir() -> Path:
    return Path(os.environ.get("HOTDOG_RUNS_DIR") or "runs").expanduser()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> dict:
    """A JSON object file, or {} when it is missing, unreadable or holds anything but an object."""
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=float) + "\n")
        handle.flush()


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` is running; a zombie (exited, not yet reaped by its parent) counts as dead."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


@dataclass
class Run:
    """One run folder, read fresh from disk each time, and checked on the way in (`hotdog.runfiles`): whatever its
    files hold, `config` and `status` are objects whose known fields have the right types, `metrics()` holds only
    whole events, and `damage` says what had to be left out."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict:
        return self._config_file()[0]

    @property
    def settings(self) -> dict:
        """The settings the run trains with (model, epochs, batch size, image size, the dataset asked for...)."""
        return self.config.get("settings", {})

    @property
    def dataset(self) -> dict:
        """What the run recorded about its dataset when it started: path, counts per split, majority baseline..."""
        return self.config.get("dataset", {})

    @property
    def dataset_path(self) -> Path:
        """The dataset the run trains on: as found when it started, else as asked for."""
        return Path(self.dataset.get("path") or self.settings.get("data", ""))

    @property
    def dataset_splits(self) -> list[str]:
        """The splits of the run's dataset (train, validation, test), once the run has started."""
        return list(self.dataset.get("counts", {}))

    @property
    def status(self) -> dict:
        """status.json, with a dead or silent training process reported as failed, whatever its pid says: a pid
        can be reused (pid 1 is always alive), a heartbeat cannot."""
        status = self._status_file()[0]
        if status.get("state") not in ACTIVE_STATES:
            return status
        if not pid_alive(status.get("pid")):
            return {**status, "state": "failed",
                    "error": f"the training process (pid {status.get('pid')}) died without finishing"}
        heartbeat = status.get("heartbeat")
        age = None if heartbeat is None else time.time() - heartbeat
        if age is None or abs(age) > HEARTBEAT_TIMEOUT_S:
            silence = "none recorded" if age is None else f"none for {age:,.0f} s" if age > 0 else "dated ahead"
            return {**status, "state": "failed",
                    "error": f"the training process stopped responding (heartbeat: {silence})"}
        return status

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def damage(self) -> str | None:
        """What in config.json and status.json could not be used ("status.json is empty; ..."), or None. (Damaged
        metrics lines are simply skipped: the charts go on with the others.)"""
        return "; ".join(self._config_file()[1] + self._status_file()[1]) or None

    @property
    def listed_state(self) -> str:
        """The state as run listings show it: "damaged: <reason>" when the run's files are damaged."""
        damage = self.damage
        return f"damaged: {damage}" if damage else self.state

    def _config_file(self) -> tuple[dict, list[str]]:
        return runfiles.read_object(self.path / CONFIG, runfiles.CONFIG, runfiles.CONFIG_REQUIRED)

    def _status_file(self) -> tuple[dict, list[str]]:
        return runfiles.read_object(self.path / STATUS, runfiles.STATUS, runfiles.STATUS_REQUIRED)

    def metrics(self) -> list[dict]:
        """Every whole batch and epoch event, in order; damaged lines and a half-written last line are skipped."""
        return runfiles.read_events(self.path / METRICS)

    @property
    def model_path(self) -> Path:
        return self.path / BEST_MODEL

    def has_model(self) -> bool:
        return self.model_path.exists()

    def request_stop(self) -> None:
        """Ask the training process to stop after its current batch; it keeps the best model."""
        (self.path / STOP).touch()

    @property
    def stop_requested(self) -> bool:
        """Whether a stop has been asked for since the run last started (`request_stop`, `python -m hotdog stop`)."""
        return (self.path / STOP).exists()

    def mark_failed(self, reason: str) -> None:
        """Record the run as failed (and ask it to stop, in case it still trains): it no longer blocks training."""
        self.request_stop()
        self.update_status(state="failed", error=reason, ended_at=now_iso())

    def update_status(self, **fields: Any) -> dict:
        """Merge `fields` into status.json; the lock keeps concurrent writers (the heartbeat thread, the app)
        from losing each other's fields."""
        with file_lock(self.path / STATUS_LOCK):
            status = {**read_json(self.path / STATUS), **fields}
            atomic.write_json(self.path / STATUS, status)
        return status


def new_run_id(model: str, name: str | None = None) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{run_label(name or model) or model}-{secrets.token_hex(2)}"


def run_label(name: str) -> str:
    """The part of a run id a person chooses: letters, digits, "_", "." and "-", at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40]


#: A run id as `new_run_id` makes it: start time, label, random tag.
RUN_ID = re.compile(r"^(?P<stamp>\d{8}-\d{6})-(?P<label>.+)-(?P<tag>[0-9a-f]{4})$")


class RunBusy(ValueError):
    """A run that is training cannot be renamed or deleted: its training process writes into the folder."""


def rename_run(run: Run, name: str) -> Run:
    """Give a run a new label: `<start time>-<name>-<tag>`, so it still sorts by when it started. Refused while
    it trains, for an empty name, or when another run already has that id."""
    label = run_label(name)
    if not label:
        raise ValueError("a run's new name needs a letter or a digit")
    parts = RUN_ID.match(run.id)
    new_id = f"{parts['stamp']}-{label}-{parts['tag']}" if parts else label
    target = run.path.with_name(new_id)
    with start_lock(run.path.parent):
        _refuse_if_training(run, "renamed")
        if target.exists():
            raise ValueError(f"there is already a run called {new_id}")
        os.rename(run.path, target)
    return Run(target)


def delete_run(run: Run) -> None:
    """Delete a run folder and everything in it (model, metrics, exports). Refused while it trains. The folder is
    first renamed to a hidden name, so no page ever lists a half-deleted run."""
    with start_lock(run.path.parent):
        _refuse_if_training(run, "deleted")
        doomed = run.path.with_name(f".deleting-{run.id}-{secrets.token_hex(2)}")
        os.rename(run.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _refuse_if_training(run: Run, what: str) -> None:
    if not (run.path / CONFIG).exists():
        raise FileNotFoundError(f"no run folder at {run.path}")
    if run.state in ACTIVE_STATES:
        raise RunBusy(f"run {run.id} is training; stop it before it can be {what}")


def list_runs(runs_dir: Path | None = None) -> list[Run]:
    """Runs newest first (run ids start with their start time); hidden folders (a run being deleted) are not runs."""
    runs_dir = Path(runs_dir or default_runs_dir())
    if not runs_dir.is_dir():
        return []
    return [Run(path) for path in sorted(runs_dir.iterdir(), key=lambda p: p.name, reverse=True)
            if path.is_dir() and not path.name.startswith(".") and (path / CONFIG).exists()]


def find_run(reference: str | Path, runs_dir: Path | None = None) -> Run:
    """A run from its folder path or its id in the runs folder."""
    path = Path(reference)
    if not (path / CONFIG).exists():
        path = Path(runs_dir or default_runs_dir()) / str(reference)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"no run folder at {reference} (a run folder holds {CONFIG})")
    return Run(path)


def latest_completed(runs_dir: Path | None = None) -> Run | None:
    return next((run for run in list_runs(runs_dir) if run.state == "completed" and run.has_model()), None)


def active_run(runs_dir: Path | None = None) -> Run | None:
    return next((run for run in list_runs(runs_dir) if run.state in ACTIVE_STATES), None)


@contextlib.contextmanager
def start_lock(runs_dir: Path) -> Iterator[None]:
    """Serialise "is anything running? then start mine" across processes and sessions (a lock on disk)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(runs_dir / ".start.lock"):
        yield


def claim_run(runs_dir: Path, run_id: str, config: dict, pid: int | None = None) -> Run:
    """Create a run folder in state `starting`, unless another training is active (TrainingBusy)."""
    with start_lock(runs_dir):
        busy = active_run(runs_dir)
        if busy is not None:
            raise TrainingBusy(busy)
        path = runs_dir / run_id
        path.mkdir(parents=True)
        atomic.write_json(path / CONFIG, config)
        run = Run(path)
        run.update_status(state="starting", pid=pid or os.getpid(), created_at=now_iso(), heartbeat=time.time())
        return run


def reclaim_run(run: Run) -> Run:
    """Mark a stopped or failed run as starting again (to resume it), unless any training is active."""
    with start_lock(run.path.parent):
        busy = active_run(run.path.parent)
        if busy is not None:
            raise TrainingBusy(busy)
        if run.state == "completed":
            raise ValueError(f"run {run.id} is already completed; start a new run to train more")
        if not run.config.get("settings"):
            raise ValueError(f"run {run.id} cannot be resumed: {run.damage or 'config.json has no settings'}; "
                             f"start a new run")
        (run.path / STOP).unlink(missing_ok=True)
        run.update_status(state="starting", pid=os.getpid(), heartbeat=time.time(), error=None, traceback=None)
        return run
