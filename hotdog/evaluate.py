"""Honest evaluation: every score next to the majority baseline, with balanced accuracy and the confusion matrix.

The metric functions are plain numpy so the app can recompute them instantly when the threshold slider moves.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hotdog import atomic


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


EVALUATION_FILES = "evaluation-*.json"


def predictions_path(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / f"predictions-{split}.csv"


def evaluation_path(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / EVALUATION_FILES.replace("*", split)


def saved_evaluations(run_dir: Path) -> list[dict]:
    """Every evaluation a run has kept (what `evaluate` returned, with its "data" folder and "split"), by file name;
    a damaged file is skipped."""
    from hotdog.runs import read_json

    found = [read_json(path) for path in sorted(Path(run_dir).glob(EVALUATION_FILES))]
    return [result for result in found if result.get("split") and result.get("n")]


def evaluate(model: str | Path, data_dir: str | Path, split: str = "test", threshold: float = 0.5,
             seed: int | None = None) -> dict:
    """Score a run (or model file, or "imagenet") on one split; a run keeps the per-photo predictions."""
    from hotdog.data import load_dataset
    from hotdog.predict import Classifier
    from hotdog.runs import CONFIG

    classifier = Classifier.load(model)
    run_dir = Path(model) if (Path(model) / CONFIG).exists() else None
    if seed is None:  # the same held-out validation photos the run was trained against
        seed = (classifier.run_config or {}).get("settings", {}).get("seed", 0)
    dataset = load_dataset(data_dir, seed=seed)
    if split not in dataset.splits:
        raise ValueError(f"{data_dir} has no {split} split; it has {', '.join(dataset.splits)}")
    examples = dataset.splits[split]
    verdicts = classifier.predict([example.path for example in examples], threshold=threshold)
    scored = [(example, verdict) for example, verdict in zip(examples, verdicts) if verdict.error is None]
    labels = np.array([example.label for example, _ in scored])
    scores = np.array([verdict.p_hotdog for _, verdict in scored])
    result = {"model": str(model), "data": str(dataset.root), "split": split, **binary_metrics(labels, scores,
                                                                                              threshold),
              "unreadable": [{"path": v.source, "reason": v.error} for v in verdicts if v.error]}
    if run_dir is not None:
        write_predictions(predictions_path(run_dir, split), scored)
        atomic.write_json(evaluation_path(run_dir, split), result)
    return result


def write_predictions(path: Path, scored: list) -> None:
    with atomic.atomic_file(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "p_hotdog"])
        for example, verdict in scored:
            writer.writerow([str(example.path), "hotdog" if example.label else "nohotdog", f"{verdict.p_hotdog:.6f}"])


def read_predictions(run_dir: Path, split: str) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """(paths, labels, scores) saved by `evaluate`, or None when the run was not evaluated on that split."""
    path = predictions_path(run_dir, split)
    if not path.exists():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return ([row["path"] for row in rows], np.array([row["label"] == "hotdog" for row in rows], dtype=int),
            np.array([float(row["p_hotdog"]) for row in rows]))


def misclassified(paths: list[str], labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> list[dict]:
    """The photos the model gets wrong at `threshold`, the most confidently wrong first (for a gallery)."""
    labels, scores = np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64)
    wrong = np.flatnonzero((scores >= threshold) != labels)
    order = wrong[np.argsort(-np.abs(scores[wrong] - threshold), kind="stable")]
    return [{"path": paths[i], "label": "hotdog" if labels[i] else "nohotdog", "p_hotdog": float(scores[i])}
            for i in order]
