"""The lessons a run teaches, in plain sentences, read from its own files: what the Train page writes next to its
charts while the run trains, and the epoch it marks on them.

- **No better than guessing:** validation accuracy not above always answering the bigger class.
- **Overfitting:** validation loss rising for `OVERFITTING_EPOCHS` epochs in a row while training loss falls; the
  epoch before the rise (the best one) is marked.
- **Unbalanced classes:** one class has `IMBALANCE_RATIO` times the photos of the other; when class weights are
  off, the lesson offers the switch.
- **Leakage:** photos that appear in two splits (the training run records them from the dataset it read).

Pure functions of a run's config and events: no Streamlit, no TensorFlow, nothing read twice.
"""

from __future__ import annotations

from dataclasses import dataclass

OVERFITTING_EPOCHS = 3
#: Bigger class / smaller class, in training photos, from which the classes count as unbalanced.
IMBALANCE_RATIO = 1.5
#: A lesson's `action`: the Train settings switch it offers.
USE_CLASS_WEIGHTS = "class_weights"


@dataclass(frozen=True)
class Lesson:
    """One sentence for the class. `epoch` (with its `mark` label) is drawn on the per-epoch charts; `action` names a
    one-click change of the Train settings."""

    kind: str
    text: str
    epoch: int | None = None
    mark: str | None = None
    action: str | None = None


def lessons(config: dict, events: list[dict]) -> list[Lesson]:
    """Every lesson that applies to a run now, most urgent first."""
    epochs = completed_epochs(events)
    found = [no_better_than_guessing(config, epochs), overfitting(epochs), unbalanced(config), leakage(config)]
    return [lesson for lesson in found if lesson is not None]


def completed_epochs(events: list[dict]) -> list[dict]:
    """The epoch events of epochs that ran to their end, in order, one per epoch."""
    by_epoch = {event["epoch"]: event for event in events
                if event.get("event") == "epoch" and not event.get("partial") and "epoch" in event}
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def _majority(counts: dict[str, int]) -> tuple[str, float] | None:
    """("always saying nohotdog", 0.71), or ("always giving the same answer", 0.5) for balanced classes."""
    total = sum(counts.values())
    if not total:
        return None
    bigger = max(counts, key=counts.get)
    if len(set(counts.values())) == 1:
        return "always giving the same answer", counts[bigger] / total
    return f"always saying {bigger}", counts[bigger] / total


def _split_counts(config: dict, split: str) -> dict[str, int]:
    dataset = config.get("dataset") or {}
    return (dataset.get("used") or dataset.get("counts") or {}).get(split) or {}


def no_better_than_guessing(config: dict, epochs: list[dict]) -> Lesson | None:
    latest = next((event for event in reversed(epochs) if event.get("val_accuracy") is not None), None)
    majority = _majority(_split_counts(config, "validation"))
    if latest is None or majority is None or latest["val_accuracy"] > majority[1]:
        return None
    answer, share = majority
    return Lesson("baseline", f"Validation accuracy {latest['val_accuracy']:.0%} after epoch {latest['epoch']} is no "
                              f"better than {answer} ({share:.0%}): the network has not learned anything useful yet.")


def overfitting(epochs: list[dict]) -> Lesson | None:
    """The first stretch of `OVERFITTING_EPOCHS`+ epochs where validation loss rises while training loss falls."""
    losses = [(event.get("loss"), event.get("val_loss")) for event in epochs]
    for start in range(len(epochs) - OVERFITTING_EPOCHS):
        rising = 0
        while start + rising + 1 < len(epochs) and _diverging(losses[start + rising], losses[start + rising + 1]):
            rising += 1
        if rising >= OVERFITTING_EPOCHS:
            best = epochs[start]["epoch"]
            return Lesson("overfitting", f"Overfitting: after epoch {best}, validation loss rose for {rising} epochs "
                                         f"in a row while training loss kept falling. The network is memorising "
                                         f"its training photos instead of learning what a hot dog looks like; more "
                                         f"photos, augmentation or fewer epochs help. The best epoch's model is "
                                         f"the one kept.", epoch=best, mark="overfitting starts")
    return None


def _diverging(before: tuple, after: tuple) -> bool:
    if None in before or None in after:
        return False
    return after[1] > before[1] and after[0] < before[0]


def unbalanced(config: dict) -> Lesson | None:
    counts = _split_counts(config, "train")
    if len(counts) < 2 or min(counts.values()) == 0:
        return None
    bigger, smaller = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[bigger] / counts[smaller]
    if ratio < IMBALANCE_RATIO:
        return None
    text = (f"Unbalanced classes: {counts[bigger]} {bigger} training photos against {counts[smaller]} {smaller}, so "
            f"always saying {bigger} is already right {counts[bigger] / sum(counts.values()):.0%} of the time. ")
    if (config.get("settings") or {}).get("class_weight") == "none":
        return Lesson("imbalance", text + f"Class weights would make each {smaller} photo count {ratio:.1f} times, so "
                                          f"that lazy answer stops paying.", action=USE_CLASS_WEIGHTS)
    return Lesson("imbalance", text + f"Class weights are on: each {smaller} photo counts {ratio:.1f} times.")


def leakage(config: dict) -> Lesson | None:
    dataset = config.get("dataset") or {}
    count = dataset.get("duplicates_across_splits") or 0
    if not count:
        return None
    example = (dataset.get("duplicate_examples") or [[]])[0]
    shown = f" (for example {' = '.join(example)})" if len(example) == 2 else ""
    return Lesson("leakage", f"{count} photo(s) appear in two splits{shown}: the network sees them while training, "
                             f"so its scores on the other split flatter it. Remove one copy of each (the Data page "
                             f"lists them).")
