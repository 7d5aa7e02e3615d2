"""What the Train page shows about a run, read from its folder alone: where training is, how long it has left.

Everything here is recomputed from `metrics.jsonl` and `status.json` on every poll, so a refresh, a second tab
or an app restart shows the same thing. No TensorFlow, no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hotdog import runs


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


def run_to_show(runs_dir: Path | None = None) -> runs.Run | None:
    """The run the Train page follows: the one training now, else the newest."""
    return runs.active_run(runs_dir) or next(iter(runs.list_runs(runs_dir)), None)


def progress(events: list[dict]) -> Progress | None:
    """Where training is and the time left, or None before the first batch.

    The rate comes from the current training process only: a resumed run restarts its `elapsed` clock, and the
    steps trained before the resume must not count towards it.
    """
    batches = [event for event in events if event.get("event") == "batch"]
    if not batches:
        return None
    last = batches[-1]
    steps, epochs = int(last["steps"]), int(last["epochs"])
    total = max(steps * epochs, 1)
    first = batches[_current_process_start(batches)]
    done_here = last["global_step"] - (first["epoch"] - 1) * steps
    left = total - last["global_step"]
    eta = last["elapsed"] / done_here * left if done_here > 0 else None
    return Progress(epoch=int(last["epoch"]), epochs=epochs, step=int(last["step"]), steps=steps,
                    fraction=min(last["global_step"] / total, 1.0), elapsed_s=float(last["elapsed"]), eta_s=eta)


def _current_process_start(batches: list[dict]) -> int:
    """Index of the first batch event written by the latest training process (its `elapsed` restarted)."""
    start = 0
    for index in range(1, len(batches)):
        if batches[index]["elapsed"] < batches[index - 1]["elapsed"]:
            start = index
    return start


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
    return run.config.get("dataset", {}).get("majority_baseline", {}).get(split)


def run_row(run: runs.Run) -> dict:
    """One line of the runs table."""
    status, settings = run.status, run.config.get("settings", {})
    return {"run": run.id, "state": run.listed_state, "model": settings.get("model"),
            "epochs": f"{status.get('epochs_completed', 0)}/{settings.get('epochs', '?')}",
            "best validation accuracy": status.get("best_val_accuracy"), "device": status.get("device"),
            "started": status.get("started_at") or status.get("created_at")}
