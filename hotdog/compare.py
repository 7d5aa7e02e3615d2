"""Runs side by side: their validation curves on one chart, and one table of their settings, final metrics and every
score they have kept (each split or folder they were evaluated on).

Everything is read from the run folders; no Streamlit, no TensorFlow.
"""

from __future__ import annotations

from hotdog import evaluate, monitor, runs
from hotdog.lessons import completed_epochs

CURVE_METRICS = ("accuracy", "loss")


def validation_curves(selected: list[runs.Run]) -> list[dict]:
    """{"run", "epoch", "metric", "value"} per run, completed epoch and validation metric."""
    return [{"run": run.id, "epoch": event["epoch"], "metric": metric, "value": event[f"val_{metric}"]}
            for run in selected for event in completed_epochs(run.metrics())
            for metric in CURVE_METRICS if event.get(f"val_{metric}") is not None]


def table(selected: list[runs.Run]) -> list[dict]:
    """One row per run: what it is, how it was trained, how it ended, and its balanced accuracy on every split or
    folder it was evaluated on (one column each; empty where a run was not evaluated there)."""
    rows = []
    for run in selected:
        settings, status = run.settings, run.status
        row = {**monitor.run_row(run),
               "image size": settings.get("image_size"), "batch size": settings.get("batch_size"),
               "learning rate": settings.get("learning_rate"), "augmentation": settings.get("augment"),
               "class weights": settings.get("class_weight") == "auto",
               "fine-tuning epochs": settings.get("fine_tune_epochs"),
               "best epoch": status.get("best_epoch"), "best validation loss": status.get("best_val_loss"),
               "validation balanced accuracy": (status.get("validation") or {}).get("balanced_accuracy")}
        for evaluation in evaluate.saved_evaluations(run.path):
            if not evaluation.stale:  # scores of an older model say nothing about this one
                row[f"{evaluation.title}: balanced accuracy"] = evaluation.metrics()["balanced_accuracy"]
        rows.append(row)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{column: row.get(column) for column in columns} for row in rows]
