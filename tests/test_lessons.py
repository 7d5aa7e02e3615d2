"""Lessons drawn live on the Train page: the sentences and the marked epoch, from a run's config and events; a real
training records what the leakage and imbalance lessons need."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import draw_photo, make_dataset
from hotdog import charts, lessons, monitor, runs, training


def epochs(*pairs: tuple[float, float], val_accuracy: float = 0.9) -> list[dict]:
    """Epoch events from (training loss, validation loss) pairs, with the batch events a run writes in between."""
    events = []
    for number, (loss, val_loss) in enumerate(pairs, start=1):
        events.append({"event": "batch", "epoch": number, "step": 1, "global_step": number, "loss": loss})
        events.append({"event": "epoch", "epoch": number, "loss": loss, "val_loss": val_loss, "accuracy": 0.9,
                       "val_accuracy": val_accuracy})
    return events


def config(train: dict[str, int] | None = None, validation: dict[str, int] | None = None,
           class_weight: str = "auto", duplicates: int = 0) -> dict:
    return {"settings": {"model": "seed", "class_weight": class_weight},
            "dataset": {"used": {"train": train or {"hotdog": 100, "nohotdog": 100},
                                 "validation": validation or {"hotdog": 20, "nohotdog": 20}},
                        "duplicates_across_splits": duplicates,
                        "duplicate_examples": [["train/hotdog/1.jpg", "test/hotdog/9.jpg"]] if duplicates else []}}


def kinds(found: list[lessons.Lesson]) -> list[str]:
    return [lesson.kind for lesson in found]


def test_a_healthy_run_has_no_lesson():
    assert lessons.lessons(config(), epochs((0.6, 0.5), (0.4, 0.35), (0.3, 0.3))) == []
    assert lessons.lessons(config(), []) == []  # before the first epoch: nothing to say yet


def test_no_better_than_always_saying_the_bigger_class():
    unbalanced_validation = config(validation={"hotdog": 10, "nohotdog": 30})
    found = lessons.lessons(unbalanced_validation, epochs((0.7, 0.6), val_accuracy=0.75))
    assert kinds(found) == ["baseline"]
    assert "no better than always saying nohotdog (75%)" in found[0].text
    assert lessons.lessons(unbalanced_validation, epochs((0.7, 0.6), val_accuracy=0.76)) == []
    balanced = lessons.lessons(config(), epochs((0.7, 0.7), val_accuracy=0.5))
    assert "always giving the same answer (50%)" in balanced[0].text


def test_overfitting_marks_the_epoch_before_validation_loss_rose_three_times():
    history = epochs((0.6, 0.50), (0.5, 0.40), (0.4, 0.30), (0.3, 0.35), (0.2, 0.45), (0.1, 0.60), (0.05, 0.70))
    found = lessons.lessons(config(), history)
    assert kinds(found) == ["overfitting"]
    assert (found[0].epoch, found[0].mark) == (3, "overfitting starts")
    assert "after epoch 3, validation loss rose for 4 epochs in a row" in found[0].text


@pytest.mark.parametrize("history", [
    [(0.6, 0.5), (0.5, 0.4), (0.4, 0.45), (0.3, 0.5)],  # rising for two epochs only
    [(0.6, 0.5), (0.5, 0.6), (0.4, 0.7), (0.45, 0.8)],  # training loss stopped falling too
    [(0.6, 0.5), (0.5, 0.6), (0.4, 0.55), (0.3, 0.7), (0.2, 0.8)],  # the rise is broken by a dip
])
def test_overfitting_needs_three_rising_epochs_while_training_loss_falls(history):
    assert lessons.overfitting(lessons.completed_epochs(epochs(*history))) is None


def test_a_partial_epoch_of_a_stopped_run_does_not_count():
    history = epochs((0.6, 0.5), (0.5, 0.6), (0.4, 0.7))
    history.append({"event": "epoch", "epoch": 4, "loss": 0.3, "val_loss": 0.8, "partial": True})
    assert lessons.overfitting(lessons.completed_epochs(history)) is None


def test_unbalanced_classes_offer_class_weights_only_when_they_are_off():
    off = lessons.lessons(config(train={"hotdog": 60, "nohotdog": 240}, class_weight="none"), [])
    assert kinds(off) == ["imbalance"] and off[0].action == lessons.USE_CLASS_WEIGHTS
    assert "240 nohotdog training photos against 60 hotdog" in off[0].text and "right 80% of the time" in off[0].text
    on = lessons.lessons(config(train={"hotdog": 60, "nohotdog": 240}), [])
    assert on[0].action is None and "Class weights are on: each hotdog photo counts 4.0 times" in on[0].text
    assert lessons.lessons(config(train={"hotdog": 110, "nohotdog": 150}, class_weight="none"), []) == []


def test_photos_in_two_splits():
    found = lessons.lessons(config(duplicates=3), [])
    assert kinds(found) == ["leakage"]
    assert found[0].text.startswith("3 photo(s) appear in two splits (for example train/hotdog/1.jpg = ")


def test_the_overfitting_epoch_is_drawn_on_the_epoch_charts_only():
    history = epochs((0.6, 0.5), (0.4, 0.3), (0.3, 0.4), (0.2, 0.5), (0.1, 0.6))
    marks = tuple((lesson.epoch, lesson.mark) for lesson in lessons.lessons(config(), history) if lesson.epoch)
    assert marks == ((2, "overfitting starts"),)
    drawn = monitor.TrainingHistory.from_events(history).charts(0.5, marks)
    for (kind, _), chart in drawn.items():
        rules = [layer for layer in chart.spec["layer"] if layer["mark"].get("color") == charts.MARK_COLOUR]
        if kind == "batch":
            assert rules == []
        else:
            assert [layer["mark"]["type"] for layer in rules] == ["rule", "text"]
            assert all(layer["data"]["values"] == [{"x": 2, "label": "overfitting starts"}] for layer in rules)


@pytest.mark.slow
def test_a_real_run_records_leaked_and_unbalanced_photos(tmp_path: Path):
    """Train for real on a dataset with one photo in both train and validation and three times more nohotdogs."""
    root = make_dataset(tmp_path / "data", {"validation": 6})
    for index in range(8):  # drawn unlike any validation photo, but one
        draw_photo(root / "train" / "hotdog" / f"{index}.jpg", True, index + 30)
    for index in range(24):
        draw_photo(root / "train" / "nohotdog" / f"{index}.jpg", False, index + 20)
    (root / "train" / "hotdog" / "copy.jpg").write_bytes((root / "validation" / "hotdog" / "2.jpg").read_bytes())
    run = training.new_run(training.TrainConfig(data=str(root), model="seed", epochs=1, image_size=48, batch_size=8,
                                                class_weight="none"), tmp_path / "runs")
    training.train(run, verbose=0)
    run = runs.Run(run.path)
    assert run.config["dataset"]["duplicates_across_splits"] == 1
    assert kinds(lessons.lessons(run.config, run.metrics()))[-2:] == ["imbalance", "leakage"]
    leak = lessons.leakage(run.config)
    assert "train/hotdog/copy.jpg" in leak.text and "validation/hotdog/2.jpg" in leak.text
    assert lessons.unbalanced(run.config).action == lessons.USE_CLASS_WEIGHTS
