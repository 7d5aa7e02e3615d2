"""The demo dataset: layout, determinism, atomic writes, and that the seed CNN can learn it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotdog import demo_data

SMALL = {"train": 3, "validation": 2, "test": 1}


def _files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _siblings(root: Path) -> list[str]:
    return sorted(path.name for path in root.parent.iterdir() if path.name != root.name)


def test_default_splits_are_balanced_and_about_800_images():
    assert set(demo_data.DEFAULT_SPLITS) == {"train", "validation", "test"}
    assert 700 <= 2 * sum(demo_data.DEFAULT_SPLITS.values()) <= 900


def test_layout_counts_and_marker(tmp_path):
    root = demo_data.generate(tmp_path / "demo", per_class=SMALL, image_size=64)
    assert root == tmp_path / "demo"
    for split, count in SMALL.items():
        for label in ("hotdog", "nohotdog"):
            assert len(list((root / split / label).glob("*.jpg"))) == count
    assert sorted(path.name for path in root.iterdir()) == ["SYNTHETIC.txt", "test", "train", "validation"]
    marker = (root / "SYNTHETIC.txt").read_text().lower()
    assert "synthetic drawings" in marker and "real dataset" in marker
    assert demo_data.is_complete(root)
    assert _siblings(root) == []


def test_images_are_rgb_jpegs_of_the_requested_size(tmp_path):
    root = demo_data.generate(tmp_path / "demo", per_class={"train": 4}, image_size=72)
    for path in root.rglob("*.jpg"):
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (72, 72))


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    first = _files(demo_data.generate(tmp_path / "a", per_class=SMALL, seed=3, image_size=64))
    again = _files(demo_data.generate(tmp_path / "b", per_class=SMALL, seed=3, image_size=64))
    other = _files(demo_data.generate(tmp_path / "c", per_class=SMALL, seed=4, image_size=64))
    assert first == again
    assert all(first[name] != other[name] for name in first if name.endswith(".jpg"))


def test_an_image_does_not_depend_on_how_many_are_drawn(tmp_path):
    small = demo_data.generate(tmp_path / "small", per_class={"train": 1}, image_size=64)
    large = demo_data.generate(tmp_path / "large", per_class={"train": 3}, image_size=64)
    name = "train/hotdog/hotdog_0000.jpg"
    assert (small / name).read_bytes() == (large / name).read_bytes()


def test_a_complete_dataset_is_returned_without_redrawing(tmp_path):
    root = demo_data.generate(tmp_path / "demo", per_class=SMALL, image_size=64)
    victim = root / "train" / "hotdog" / "hotdog_0000.jpg"
    victim.write_bytes(b"kept")
    assert demo_data.generate(root, per_class=SMALL, image_size=64) == root
    assert victim.read_bytes() == b"kept"


def test_leftover_partial_folders_do_not_break_generation(tmp_path):
    root = tmp_path / "demo"
    for name in (".demo.partial-old", ".demo.partial-recent"):
        half = tmp_path / name / "train" / "hotdog"
        half.mkdir(parents=True)
        (half / "hotdog_0000.jpg").write_bytes(b"half written")
    long_ago = time.time() - demo_data.STALE_SECONDS - 60
    os.utime(tmp_path / ".demo.partial-old", (long_ago, long_ago))

    demo_data.generate(root, per_class=SMALL, image_size=64)

    assert demo_data.is_complete(root)
    assert len(list(root.rglob("*.jpg"))) == 2 * sum(SMALL.values())
    assert _siblings(root) == [".demo.partial-recent"]  # a recent one may belong to a generation still running


def test_an_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path):
    root = tmp_path / "demo"

    def interrupt(fraction: float) -> None:
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo_data.generate(root, per_class=SMALL, image_size=64, progress=interrupt)
    assert not root.exists()
    assert _siblings(root) == []
    assert demo_data.is_complete(demo_data.generate(root, per_class=SMALL, image_size=64))


def test_an_empty_folder_is_filled_and_a_foreign_one_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert demo_data.is_complete(demo_data.generate(tmp_path / "empty", per_class=SMALL, image_size=64))
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        demo_data.generate(foreign, per_class=SMALL, image_size=64)
    assert _files(foreign) == {"holiday.jpg": b"mine"}


def test_progress_rises_to_one(tmp_path):
    seen: list[float] = []
    demo_data.generate(tmp_path / "demo", per_class=SMALL, image_size=64, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 2 * sum(SMALL.values())


@pytest.mark.parametrize("bad", [{"seed": -1}, {"image_size": 8}, {"per_class": {"train": -2}}])
def test_bad_settings_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        demo_data.generate(tmp_path / "demo", **bad)


@pytest.mark.slow
def test_the_seed_cnn_learns_the_demo_dataset(tmp_path):
    """The classroom promise: the small `seed` CNN passes 90% validation accuracy within five epochs on CPU."""
    keras = pytest.importorskip("keras")
    from keras import layers

    from hotdog.images import load_array

    root = demo_data.generate(tmp_path / "demo")

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        paths = [(path, label) for label in (0, 1)
                 for path in sorted((root / name / ("nohotdog", "hotdog")[label]).glob("*.jpg"))]
        return (np.stack([load_array(path, 120) for path, _ in paths]),
                np.array([label for _, label in paths], np.float32))

    keras.utils.set_random_seed(0)
    inputs = keras.Input((120, 120, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(x))
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(x))
    x = layers.Dense(64, activation="relu")(layers.Flatten()(x))
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(*split("train"), batch_size=32, epochs=5, validation_data=split("validation"), verbose=0)
    assert max(history.history["val_accuracy"]) >= 0.9
