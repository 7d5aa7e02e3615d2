"""Honest evaluation: every score next to the majority baseline, with balanced accuracy and the confusion matrix,
on any labelled folder: a split of a dataset, or a plain hotdog / nohotdog folder.

`evaluate` runs the model once and saves the per-photo scores (in the run folder; for the zero-shot model, under
the runs folder). The metric functions are plain numpy, so the app recomputes everything from those scores
instantly when the threshold slider moves.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotdog import atomic, runs
from hotdog.archives import safe_name
from hotdog.data import ALL_PHOTOS, DataError, content_fingerprint, load_labelled
from hotdog.predict import IMAGENET, Classifier

#: The folder of saved scores, in a run folder or (for the zero-shot model) in the runs folder.
EVALUATIONS = "evaluations"


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def confusion(y_true: np.ndarray, p_hotdog: np.ndarray, threshold: float = 0.5) -> list[list[int]]:
    """[[tn, fp], [fn, tp]] with hotdog as the positive class."""
    truth = np.asarray(y_true).astype(bool)
    said = np.asarray(p_hotdog) >= threshold
    return [[int(np.sum(~truth & ~said)), int(np.sum(~truth & said))],
            [int(np.sum(truth & ~said)), int(np.sum(truth & said))]]


def roc_auc(y_true: np.ndarray, p_hotdog: np.ndarray) -> float | None:
    """Probability that a random hotdog scores above a random nohotdog (ties count half)."""
    truth = np.asarray(y_true).astype(bool)
    scores = np.asarray(p_hotdog, dtype=np.float64)
    positives, negatives = scores[truth], scores[~truth]
    if not len(positives) or not len(negatives):
        return None
    _, inverse, counts = np.unique(np.concatenate([negatives, positives]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    positive_ranks = ranks[len(negatives):].sum()
    return float((positive_ranks - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def binary_metrics(y_true: np.ndarray, p_hotdog: np.ndarray, threshold: float = 0.5) -> dict:
    """n, accuracy, balanced accuracy, precision, recall, f1, ROC AUC, confusion matrix and majority baseline."""
    y_true = np.asarray(y_true).astype(int)
    (tn, fp), (fn, tp) = confusion(y_true, p_hotdog, threshold)
    n = len(y_true)
    recall = _safe_div(tp, tp + fn)
    specificity = _safe_div(tn, tn + fp)
    precision = _safe_div(tp, tp + fp)
    positives = int(y_true.sum())
    return {
        "n": n, "threshold": threshold,
        "accuracy": _safe_div(tp + tn, n),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": precision, "recall": recall, "specificity": specificity,
        "f1": _safe_div(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(y_true, p_hotdog),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "majority_baseline": _safe_div(max(positives, n - positives), n),
        "majority_class": "hotdog" if positives > n - positives else "nohotdog",
    }


def roc_curve(y_true: np.ndarray, p_hotdog: np.ndarray) -> dict[str, list[float]]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    truth, scores = np.asarray(y_true).astype(bool), np.asarray(p_hotdog, dtype=np.float64)
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    said = scores[None, :] >= thresholds[:, None]
    tpr = (said & truth).sum(1) / max(truth.sum(), 1)
    fpr = (said & ~truth).sum(1) / max((~truth).sum(), 1)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": np.minimum(thresholds, 1.0).tolist()}


def pr_curve(y_true: np.ndarray, p_hotdog: np.ndarray) -> dict[str, list[float]]:
    """Precision and recall at every distinct threshold."""
    truth, scores = np.asarray(y_true).astype(bool), np.asarray(p_hotdog, dtype=np.float64)
    thresholds = np.unique(scores)[::-1]
    said = scores[None, :] >= thresholds[:, None]
    tp = (said & truth).sum(1)
    precision = tp / np.maximum(said.sum(1), 1)
    recall = tp / max(truth.sum(), 1)
    return {"precision": precision.tolist(), "recall": recall.tolist(), "threshold": thresholds.tolist()}


def evaluations_dir(model: str | Path, runs_dir: Path | None = None) -> Path | None:
    """Where a model's saved scores live: `<run>/evaluations/` for a run, `<runs dir>/evaluations/imagenet/` for the
    zero-shot model (it has no run folder); None for a bare .keras file, whose scores are only printed."""
    if str(model) == IMAGENET:
        return Path(runs_dir or runs.default_runs_dir()) / EVALUATIONS / IMAGENET
    if (Path(model) / runs.CONFIG).exists():
        return Path(model) / EVALUATIONS
    return None


def model_modified(model: str | Path) -> float:
    """When the model last changed: its .keras file's time; for the zero-shot model, the time of the code that
    builds it. Saved scores older than this are stale."""
    if str(model) == IMAGENET:
        return Path(importlib.util.find_spec("hotdog.pretrained").origin).stat().st_mtime
    path = Path(model)
    return (path / runs.BEST_MODEL if path.is_dir() else path).stat().st_mtime


@dataclass(frozen=True)
class Evaluation:
    """One model's saved per-photo scores on one labelled folder; metrics follow any threshold from these."""

    data: Path
    split: str
    paths: list[str]
    labels: np.ndarray
    scores: np.ndarray
    unreadable: list[dict]
    scored_at: str
    #: The model changed since these scores were saved.
    stale: bool

    @property
    def title(self) -> str:
        return f"{self.data.name}, all photos" if self.split == ALL_PHOTOS else f"{self.data.name}, {self.split} split"

    def metrics(self, threshold: float = 0.5) -> dict:
        return binary_metrics(self.labels, self.scores, threshold)

    def mistakes(self, threshold: float = 0.5) -> list[dict]:
        return misclassified(self.paths, self.labels, self.scores, threshold)


def evaluate(model: str | Path, data_dir: str | Path, split: str | None = None, threshold: float = 0.5,
             seed: int | None = None, runs_dir: Path | None = None) -> dict:
    """Score a run, a .keras file or "imagenet" on a labelled folder and return the metrics.

    Args:
        model: a run folder, a .keras file, or "imagenet" (the zero-shot model).
        data_dir: a dataset with splits, or a plain folder holding a hotdog and a not-hotdog folder.
        split: which split of a dataset (test by default); a plain folder is scored whole.
        threshold: P(hotdog) needed to say hotdog, for the metrics returned.
        seed: the seed that held validation photos out of train; by default the run's own.
        runs_dir: where the zero-shot model's scores are kept (default: the runs folder).

    Returns:
        The metrics of `binary_metrics` with the model, folder, split and unreadable photos; for a run or
        "imagenet" also `saved_to`, the file the Evaluate page reads the per-photo scores from.
    """
    classifier = Classifier.load(model)
    modified = model_modified(model)
    if seed is None:  # the same held-out validation photos the run was trained against
        seed = (classifier.run_config or {}).get("settings", {}).get("seed", 0)
    root = Path(data_dir).expanduser().resolve()
    split, examples = load_labelled(root, split, seed=seed)
    verdicts = classifier.predict([example.path for example in examples], threshold=threshold)
    scored = [(example, verdict) for example, verdict in zip(examples, verdicts) if verdict.error is None]
    if not scored:
        raise DataError(f"none of the {len(examples)} photos of {root} ({split}) can be read")
    labels = np.array([example.label for example, _ in scored])
    scores = np.array([verdict.p_hotdog for _, verdict in scored])
    result = {"model": str(model), "data": str(root), "split": split, **binary_metrics(labels, scores, threshold),
              "unreadable": [{"path": v.source, "reason": v.error} for v in verdicts if v.error]}
    folder = evaluations_dir(model, runs_dir)
    if folder is not None:
        saved = folder / f"{_key(root, split)}.json"
        atomic.write_json(saved, {
            **result, "scored_at": runs.now_iso(), "model_modified": modified,
            "fingerprint": content_fingerprint(example.path for example, _ in scored),
            "photos": {"path": [str(example.path) for example, _ in scored], "label": labels.tolist(),
                       "p_hotdog": [round(float(score), 6) for score in scores]}})
        result["saved_to"] = str(saved)
    return result


def load_evaluation(model: str | Path, data_dir: str | Path, split: str,
                    runs_dir: Path | None = None) -> Evaluation | None:
    """The scores `evaluate` saved for this model, folder and split, or None when it was not scored yet."""
    folder = evaluations_dir(model, runs_dir)
    if folder is None:
        return None
    return _read_evaluation(folder / f"{_key(Path(data_dir).expanduser().resolve(), split)}.json", model)


def saved_evaluations(model: str | Path, runs_dir: Path | None = None) -> list[Evaluation]:
    """Every labelled folder this model was scored on, the most recently scored first."""
    folder = evaluations_dir(model, runs_dir)
    if folder is None or not folder.is_dir():
        return []
    found = (_read_evaluation(path, model) for path in folder.glob("*.json"))
    return sorted((evaluation for evaluation in found if evaluation is not None),
                  key=lambda evaluation: evaluation.scored_at, reverse=True)


def _key(root: Path, split: str) -> str:
    """A file name per (folder, split): readable, and unique per absolute path."""
    return f"{safe_name(root.name)}-{split}-{hashlib.sha256(str(root).encode()).hexdigest()[:10]}"


def _read_evaluation(path: Path, model: str | Path) -> Evaluation | None:
    record = runs.read_json(path)
    try:
        photos = record["photos"]
        return Evaluation(data=Path(record["data"]), split=record["split"], paths=list(photos["path"]),
                          labels=np.array(photos["label"], dtype=int),
                          scores=np.array(photos["p_hotdog"], dtype=np.float64),
                          unreadable=record.get("unreadable", []), scored_at=record["scored_at"],
                          stale=record.get("model_modified") != _modified_or_none(model))
    except (KeyError, TypeError, ValueError):  # missing (not scored yet), or not a file `evaluate` wrote
        return None


def _modified_or_none(model: str | Path) -> float | None:
    try:
        return model_modified(model)
    except OSError:
        return None


def misclassified(paths: list[str], labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> list[dict]:
    """The photos the model gets wrong at `threshold`, the most confidently wrong first (for a gallery)."""
    labels, scores = np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64)
    wrong = np.flatnonzero((scores >= threshold) != labels)
    order = wrong[np.argsort(-np.abs(scores[wrong] - threshold), kind="stable")]
    return [{"path": paths[i], "label": "hotdog" if labels[i] else "nohotdog", "p_hotdog": float(scores[i])}
            for i in order]
