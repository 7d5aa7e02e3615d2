"""Datasets: layout rules, labels, formats, the data check and the input pipeline, on real files."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo, last_json, make_dataset, run_cli
from hotdog import data, images


@pytest.mark.parametrize("positive,negative", [("hot_dog", "not_hot_dog"), ("hotdog", "nothotdog"),
                                               ("hotdog", "not-hotdog"), ("Hot Dog", "not hotdog")])
def test_hotdog_is_always_label_one(tmp_path, positive, negative):
    make_dataset(tmp_path, {"train": 5, "validation": 2}, positive=positive, negative=negative)
    dataset = data.load_dataset(tmp_path)
    for example in dataset.splits["train"]:
        assert example.label == (1 if example.path.parent.name == positive else 0)
    assert dataset.counts() == {"train": {"hotdog": 5, "nohotdog": 5}, "validation": {"hotdog": 2, "nohotdog": 2}}


def test_missing_validation_is_a_seeded_stratified_fifth_of_train(tmp_path):
    make_dataset(tmp_path, {"train": 20})
    first, again = data.load_dataset(tmp_path, seed=3), data.load_dataset(tmp_path, seed=3)
    assert first.validation_from_train
    assert first.counts() == {"train": {"hotdog": 16, "nohotdog": 16}, "validation": {"hotdog": 4, "nohotdog": 4}}
    assert first.splits == again.splits
    assert not set(first.splits["train"]) & set(first.splits["validation"])
    assert data.load_dataset(tmp_path, seed=4).splits["validation"] != first.splits["validation"]


@pytest.mark.parametrize("breakage,expected", [
    (lambda root: (root / "train" / "pizza").mkdir(), "unknown class folder 'pizza'"),
    (lambda root: (root / "train" / "notes.txt").write_text("x"), "is a file where a class folder belongs"),
    (lambda root: [p.unlink() for p in (root / "validation").rglob("*.jpg")], "holds no photos"),
    (lambda root: (root / "train").rename(root / "trian"), "has no train/ folder"),
])
def test_layout_errors_name_the_path(tmp_path, breakage, expected):
    make_dataset(tmp_path, {"train": 3, "validation": 2})
    breakage(tmp_path)
    with pytest.raises(data.DataError, match=expected) as error:
        data.load_dataset(tmp_path)
    assert str(tmp_path) in str(error.value)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_every_format_and_mode_becomes_rgb_whatever_the_extension(tmp_path):
    base = Image.new("RGB", (40, 30), (200, 50, 20))
    palette = base.convert("P")
    palette.info["transparency"] = 0
    sources = {
        "png-named.jpg": _encoded(base, "PNG"),
        "webp-named.jpg": _encoded(base, "WEBP"),
        "gif.gif": _encoded(base, "GIF"),
        "bmp.bmp": _encoded(base, "BMP"),
        "gray.jpg": _encoded(base.convert("L"), "JPEG"),
        "cmyk.jpg": _encoded(base.convert("CMYK"), "JPEG"),
        "rgba.png": _encoded(base.convert("RGBA"), "PNG"),
        "palette-transparent.png": _encoded(palette, "PNG", transparency=0),
        "sixteen-bit.png": _encoded(Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)), "PNG"),
    }
    for name, payload in sources.items():
        (tmp_path / name).write_bytes(payload)
        image = images.load_rgb(tmp_path / name)
        assert image.mode == "RGB" and image.size == (40, 30), name


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (tmp_path / "rotated.jpg").write_bytes(_encoded(image, "JPEG", exif=exif))
    assert images.load_rgb(tmp_path / "rotated.jpg").size == (20, 60)


@pytest.mark.parametrize("payload,reason", [(b"", "empty file"), (b"hello, not a photo", "not an image"),
                                            (None, "damaged or truncated")])
def test_unreadable_photos_get_a_clear_reason(tmp_path, payload, reason):
    if payload is None:
        payload = _encoded(Image.new("RGB", (200, 200), (1, 2, 3)), "PNG")[:300]
    (tmp_path / "bad.jpg").write_bytes(payload)
    with pytest.raises(images.ImageError, match=reason):
        images.load_rgb(tmp_path / "bad.jpg")


def test_check_data_reports_counts_problems_and_leakage(tmp_path):
    make_dataset(tmp_path, {"train": 6, "validation": 2, "test": 3})
    (tmp_path / "train" / "hotdog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    leaked = tmp_path / "test" / "nohotdog" / "leaked.jpg"
    leaked.write_bytes((tmp_path / "train" / "nohotdog" / "2.jpg").read_bytes())
    Image.new("RGB", (20, 16), (9, 9, 9)).save(tmp_path / "validation" / "hotdog" / "tiny.png")

    report = last_json(run_cli("check-data", tmp_path, "--json").stdout)

    assert report["splits"] == {"train": {"hotdog": 7, "nohotdog": 6}, "validation": {"hotdog": 3, "nohotdog": 2},
                                "test": {"hotdog": 3, "nohotdog": 4}}
    assert report["majority_baseline"]["test"] == pytest.approx(4 / 7)
    assert [u["path"] for u in report["unreadable"]] == [str(tmp_path / "train" / "hotdog" / "broken.jpg")]
    assert report["unreadable"][0]["reason"]
    assert [str(tmp_path / "train" / "nohotdog" / "2.jpg"), str(leaked)] in report["duplicates_across_splits"]
    assert [s["path"] for s in report["small_images"]] == [str(tmp_path / "validation" / "hotdog" / "tiny.png")]
    text = run_cli("check-data", tmp_path).stdout
    assert "unreadable files: 1" in text and "broken.jpg" in text and "leaked.jpg" in text


def test_decode_skips_bad_files_caches_and_feeds_tf_data(tmp_path):
    root = make_dataset(tmp_path / "ds", {"train": 5, "validation": 1})
    (root / "train" / "hotdog" / "zero.jpg").write_bytes(b"")
    examples = data.load_dataset(root).splits["train"]
    first = data.decode(examples, 48)
    assert first.images.shape == (len(examples) - 1, 48, 48, 3) and first.images.dtype == np.uint8
    assert first.unreadable[0]["path"].endswith("zero.jpg") and "empty" in first.unreadable[0]["reason"]
    again = data.decode(examples, 48)
    assert isinstance(again.images, np.memmap)  # served from the decoded cache
    np.testing.assert_array_equal(np.asarray(again.images), first.images)
    assert again.paths == first.paths
    np.testing.assert_array_equal(again.labels, first.labels)

    batches = list(data.make_tf_dataset(first, batch_size=4, shuffle=True, seed=1))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert batches[0][0].dtype.name == "float32" and float(batches[0][0].numpy().max()) > 1.0  # raw 0..255
    assert sorted(np.concatenate([b[1].numpy() for b in batches]).tolist()) == sorted(first.labels.tolist())


def test_fingerprint_changes_with_content(tmp_path):
    root = make_dataset(tmp_path, {"train": 3})
    before = data.load_dataset(root).fingerprint()
    assert before == data.load_dataset(root).fingerprint()
    draw_photo(root / "train" / "hotdog" / "0.jpg", False, 99)
    assert data.load_dataset(root).fingerprint() != before


@pytest.mark.parametrize("positive,negative", [("hotdog", "nohotdog"), ("hot-dog", "not_hotdog"),
                                               ("Hot_Dog", "nothotdog")])
def test_a_labelled_folder_is_a_plain_class_folder_or_a_split(tmp_path, positive, negative):
    plain = make_dataset(tmp_path / "plain", {"": 3}, positive=positive, negative=negative)
    split, examples = data.load_labelled(plain)
    assert split == data.ALL_PHOTOS and data.class_counts(examples) == {"hotdog": 3, "nohotdog": 3}
    assert all(example.label == (example.path.parent.name == positive) for example in examples)
    only_test = make_dataset(tmp_path / "only-test", {"test": 2})  # no train/: still scorable
    assert data.class_counts(data.load_labelled(only_test)[1]) == {"hotdog": 2, "nohotdog": 2}
    carved = make_dataset(tmp_path / "carved", {"train": 10})
    split, validation = data.load_labelled(carved, "validation", seed=5)
    assert split == "validation" and validation == data.load_dataset(carved, seed=5).splits["validation"]
    with pytest.raises(data.DataError, match="has no test split; it has train, validation"):
        data.load_labelled(carved)
    with pytest.raises(data.DataError, match="without splits"):
        data.load_labelled(plain, "train")


@pytest.mark.parametrize("width, height", [(400, 300), (300, 400), (256, 256)])
def test_every_model_sees_the_centre_of_a_photo_and_nothing_of_its_edges(tmp_path: Path, width: int, height: int):
    """Blue inside `centre_box`, red around it: the array a model is fed is blue only, from a file as from memory."""
    left, top, right, bottom = images.centre_box(width, height)
    assert right - left == bottom - top == pytest.approx(min(width, height) * images.CENTRE_FRACTION)
    assert (left + right) / 2 == width / 2 and (top + bottom) / 2 == height / 2
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = 255
    pixels[math.ceil(top) + 1:math.floor(bottom) - 1, math.ceil(left) + 1:math.floor(right) - 1] = (0, 0, 255)
    photo = Image.fromarray(pixels)
    photo.save(tmp_path / "framed.png")
    for array in (images.to_array(photo, 64), images.load_array(tmp_path / "framed.png", 64)):
        assert array.shape == (64, 64, 3)
        assert array[2:-2, 2:-2, 0].max() == 0 and array[2:-2, 2:-2, 2].min() == 255, "an edge of the photo is seen"
