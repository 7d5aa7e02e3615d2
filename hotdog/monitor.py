"""What the Train page shows about a run, read from its folder alone: where training is, how long it has left, and
its charts; worked out once per change of the folder and shared by every viewer.

A whole class may watch one laptop: thirty sessions polling the same run every second. So `RunsWatcher` (one per
runs folder, kept by the page with `st.cache_resource`) hands every session the same `RunView`, rebuilt only when
the run folder changed, and `MetricsLog` reads metrics.jsonl from where it stopped instead of from the start.
Everything still comes from the files alone, so a refresh, a second tab or an app restart shows the same thing.
No TensorFlow, no Streamlit.
"""

from __future__ import annotations

import math
import os
import threading
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa

from hotdog import charts, lessons, runfiles, runs

#: Seconds a "the training process is alive" verdict and the choice of run to follow are trusted without a new
#: look: a process can die without touching its folder, and another run can be resumed in a folder of its own.
RECHECK_S = 1.0
METRICS = tuple(charts.METRIC_TITLES)
#: What a batch event must hold to count: where it is in the training, and the training clock.
BATCH_POSITION = ("epoch", "epochs", "step", "steps", "global_step", "elapsed")


@dataclass(frozen=True)
class Progress:
    """Position of a run in its training, from its latest batch event."""

    epoch: int
    epochs: int
    step: int
    steps: int
    fraction: float
    elapsed_s: float
    eta_s: float | None

    def describe(self) -> str:
        """"Epoch 2/10 · step 14/19 · 1 min 05 s left"."""
        text = f"Epoch {self.epoch}/{self.epochs} · step {self.step}/{self.steps}"
        return text + (f" · about {format_duration(self.eta_s)} left" if self.eta_s is not None else "")


class TrainingHistory:
    """The numbers a run has logged, gathered event by event: batch metrics as compact columns (20,000 batches
    take a few hundred kilobytes), epoch events whole."""

    def __init__(self) -> None:
        self.batch_steps = array("d")
        self.batch_values = {metric: array("d") for metric in METRICS}
        self.epochs: list[dict] = []
        #: The latest batch event, and the first one written by the latest training process (a resumed run
        #: restarts its `elapsed` clock).
        self.last_batch: dict | None = None
        self.process_first_batch: dict | None = None

    @classmethod
    def from_events(cls, events: Iterable[dict]) -> "TrainingHistory":
        history = cls()
        for event in events:
            history.add(event)
        return history

    def add(self, event: dict) -> None:
        """Take in one event of metrics.jsonl; a batch event without its position or clock is left out."""
        if event.get("event") == "epoch":
            self.epochs.append(event)
        elif event.get("event") == "batch":
            if not all(isinstance(event.get(key), (int, float)) for key in BATCH_POSITION):
                return
            step = float(event["global_step"])
            if self.last_batch is None or event["elapsed"] < self.last_batch["elapsed"]:
                self.process_first_batch = event
            self.last_batch = event
            self.batch_steps.append(step)
            for metric, column in self.batch_values.items():
                value = event.get(metric)
                column.append(float(value) if isinstance(value, (int, float)) else math.nan)

    @property
    def batch_count(self) -> int:
        return len(self.batch_steps)

    def progress(self) -> Progress | None:
        """Where training is and the time left, or None before the first batch.

        The rate comes from the current training process only: the steps trained before a resume must not count.
        """
        last, first = self.last_batch, self.process_first_batch
        if last is None:
            return None
        steps, epochs = int(last["steps"]), int(last["epochs"])
        total = max(steps * epochs, 1)
        done_here = last["global_step"] - (first["epoch"] - 1) * steps
        left = total - last["global_step"]
        eta = last["elapsed"] / done_here * left if done_here > 0 else None
        return Progress(epoch=int(last["epoch"]), epochs=epochs, step=int(last["step"]), steps=steps,
                        fraction=min(last["global_step"] / total, 1.0), elapsed_s=float(last["elapsed"]), eta_s=eta)

    def charts(self, baseline: float | None = None, marks: tuple[tuple[int, str], ...] = ()
               ) -> dict[tuple[str, str], charts.TrainingChart]:
        """The four training charts by (kind, metric); accuracy gets the majority-baseline rule, and the epoch
        charts a vertical rule at each marked (epoch, label) of a lesson."""
        steps = np.array(self.batch_steps, dtype=np.float64)
        drawn = {}
        for metric in METRICS:
            rule = charts.baseline_rule(baseline) if metric == "accuracy" and baseline is not None else []
            values = np.array(self.batch_values[metric], dtype=np.float64)
            drawn["batch", metric] = charts.batch_chart(metric, steps, values, rule)
            drawn["epoch", metric] = charts.epoch_chart(metric, self.epochs, [*rule, *charts.epoch_rules(marks)])
        return drawn


class MetricsLog:
    """metrics.jsonl read incrementally: each `read()` parses only what was appended since the last one.

    A half-written last line waits for the next read. A file replaced, truncated or rewritten (a resume rewrites
    it) is read again from the start.
    """

    #: Bytes just before the read position, compared on every read: a rewrite that left the file longer shows.
    CHECK_BYTES = 64

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._start_over()

    def _start_over(self) -> None:
        self.history = TrainingHistory()
        self._offset, self._identity, self._tail = 0, None, b""

    @property
    def offset(self) -> int:
        """Where the next read starts: the end of the last complete line taken in."""
        return self._offset

    def read(self) -> bool:
        """Take in the complete lines appended since the last read; True when the history changed."""
        try:
            handle = open(self.path, "rb")
        except OSError:  # not written yet, or gone
            changed = self._offset > 0
            self._start_over()
            return changed
        with handle:
            stat = os.fstat(handle.fileno())
            restarted = not self._continues(handle, stat)
            if restarted:
                self._start_over()
            self._identity = (stat.st_dev, stat.st_ino)
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        for line in complete.splitlines():
            event = runfiles.parse_event(line)  # None for a damaged line: skipped, as Run.metrics() does
            if event is not None:
                self.history.add(event)
        self._offset += len(complete)
        self._tail = (self._tail + complete)[-self.CHECK_BYTES:]
        return restarted or bool(complete)

    def _continues(self, handle, stat: os.stat_result) -> bool:
        """Whether the file is still the one read so far, grown at most."""
        if self._offset == 0:
            return True
        if (stat.st_dev, stat.st_ino) != self._identity or stat.st_size < self._offset:
            return False
        handle.seek(self._offset - len(self._tail))
        return handle.read(len(self._tail)) == self._tail


@dataclass(frozen=True)
class RunView:
    """Everything the Train page draws about one run at one moment; one object for every session."""

    run: runs.Run
    status: dict
    settings: dict
    stop_requested: bool
    progress: Progress | None
    batch_events: int
    epoch_events: int
    charts: dict[tuple[str, str], charts.TrainingChart]
    #: What the run teaches now, in sentences (`hotdog.lessons`).
    lessons: tuple[lessons.Lesson, ...] = ()

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def active(self) -> bool:
        return self.state in runs.ACTIVE_STATES


def _stat_key(path: Path) -> tuple | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class RunMonitor:
    """One run's view, rebuilt only when its folder changed; every session's thread may call `view()`.

    A change is any new entry in the folder (status.json and config.json are replaced atomically, STOP appears or
    goes), metrics.jsonl growing or being rewritten, or the training process found dead.
    """

    def __init__(self, run: runs.Run) -> None:
        self.run = run
        self.builds = 0  #: views built so far: once per change, however many sessions ask
        self._log = MetricsLog(run.path / runs.METRICS)
        self._lock = threading.Lock()
        self._view: RunView | None = None
        self._charts: dict | None = None
        self._charted: tuple | None = None  # what the charts were drawn from: the history's size, the baseline
        self._signature: tuple | None = None
        self._checked_at = -math.inf

    def view(self) -> RunView:
        with self._lock:
            signature = tuple(_stat_key(path) for path in (self.run.path, self.run.path / runs.METRICS,
                                                           self.run.path / runs.STATUS))
            now = time.monotonic()
            unchanged = self._view is not None and signature == self._signature
            if unchanged and now - self._checked_at < RECHECK_S:
                return self._view
            status = self.run.status  # also decides whether a process that says "running" still lives
            self._checked_at = now
            if unchanged and status == self._view.status:
                return self._view
            self._view, self._signature = self._build(status), signature
            self.builds += 1
            return self._view

    def _build(self, status: dict) -> RunView:
        changed = self._log.read()
        history, config = self._log.history, self.run.config
        baseline = majority_baseline(self.run)
        taught = tuple(lessons.lessons(config, history.epochs))
        marks = tuple((lesson.epoch, lesson.mark) for lesson in taught if lesson.epoch)
        if changed or self._charted != (history.batch_count, len(history.epochs), baseline, marks):
            self._charts = history.charts(baseline, marks)
            self._charted = (history.batch_count, len(history.epochs), baseline, marks)
        return RunView(run=self.run, status=status, settings=self.run.settings,
                       stop_requested=self.run.stop_requested, progress=history.progress(),
                       batch_events=history.batch_count, epoch_events=len(history.epochs), charts=self._charts,
                       lessons=taught)


class RunsWatcher:
    """The run the Train page follows, its view and the runs table, shared by every session of one server.

    The folder of runs is looked at again when it changes (a new run) and at least every `RECHECK_S` seconds (a
    run resumed, a run ended), once for all sessions.
    """

    def __init__(self, runs_dir: Path | None = None) -> None:
        self.runs_dir = Path(runs_dir or runs.default_runs_dir())
        self._lock = threading.Lock()
        self._followed: RunMonitor | None = None
        self._table = pa.table({})
        self._signature: tuple | None = None
        self._checked_at = -math.inf

    def view(self) -> RunView | None:
        """The followed run (the one training now, else the newest) as every session draws it; None without runs."""
        followed = self.followed()
        return followed.view() if followed is not None else None

    def table(self) -> pa.Table:
        """The runs table: one row per run (`run_row`), newest first; a pyarrow table, so that drawing it in every
        session converts nothing."""
        self.followed()
        return self._table

    def followed(self) -> RunMonitor | None:
        """The monitor of the run to show: the one training now, else the newest; None without runs."""
        with self._lock:
            signature, now = _stat_key(self.runs_dir), time.monotonic()
            if signature != self._signature or now - self._checked_at >= RECHECK_S:
                run = run_to_show(self.runs_dir)
                if run is None:
                    self._followed = None
                elif self._followed is None or self._followed.run.path != run.path:
                    self._followed = RunMonitor(run)
                self._table = pa.Table.from_pylist([run_row(each) for each in runs.list_runs(self.runs_dir)])
                self._signature, self._checked_at = signature, now
            return self._followed


def run_to_show(runs_dir: Path | None = None) -> runs.Run | None:
    """The run the Train page follows: the one training now, else the newest."""
    return runs.active_run(runs_dir) or next(iter(runs.list_runs(runs_dir)), None)


def format_duration(seconds: float) -> str:
    """"42 s", "3 min 05 s", "1 h 02 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def majority_baseline(run: runs.Run, split: str = "validation") -> float | None:
    """Accuracy of always answering the bigger class on `split`; known once the run has decoded its photos."""
    return run.dataset.get("majority_baseline", {}).get(split)


def run_row(run: runs.Run) -> dict:
    """One line of the runs table."""
    status, settings = run.status, run.settings
    return {"run": run.id, "state": run.listed_state, "model": settings.get("model"),
            "epochs": f"{status.get('epochs_completed', 0)}/{settings.get('epochs', '?')}",
            "best validation accuracy": status.get("best_val_accuracy"), "device": status.get("device"),
            "started": status.get("started_at") or status.get("created_at")}
