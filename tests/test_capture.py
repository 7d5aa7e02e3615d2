"""Photos taken with the camera: checked before they are kept, numbered in order across both classes (also when
several viewers take photos at once), taken back with undo, and used as a dataset once each class has enough."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from conftest import draw_photo
from hotdog import capture, data, images, workspace


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "appdata"))
    return capture.capture_dir("Class 7b / camera")


def jpeg(tmp_path: Path, hotdog: bool, index: int) -> bytes:
    return draw_photo(tmp_path / f"shot-{hotdog}-{index}.jpg", hotdog, index).read_bytes()


def test_photos_are_numbered_across_classes_and_kept_byte_for_byte(root, tmp_path):
    assert root == tmp_path / "appdata" / "Class-7b-camera" and capture.counts(root) == {"hotdog": 0, "nohotdog": 0}
    shots = [(label, jpeg(tmp_path, label == "hotdog", index))
             for index, label in enumerate(["hotdog", "hotdog", "nohotdog", "hotdog"])]
    saved = [capture.add_photo(root, label, photo) for label, photo in shots]
    assert [path.relative_to(root).as_posix() for path in saved] == [
        "train/hotdog/photo-00001.jpg", "train/hotdog/photo-00002.jpg", "train/nohotdog/photo-00003.jpg",
        "train/hotdog/photo-00004.jpg"]
    assert [path.read_bytes() for path in saved] == [photo for _, photo in shots]
    assert capture.counts(root) == {"hotdog": 3, "nohotdog": 1}
    assert capture.latest(root, "hotdog", 2) == [saved[3], saved[1]]
    assert not [path for path in root.rglob(".*") if path.name != ".capture.lock"]  # no temp file left


def test_a_photo_that_cannot_be_read_is_not_kept(root, tmp_path):
    with pytest.raises(images.ImageError, match="not an image"):
        capture.add_photo(root, "hotdog", b"\xff\xd8\xff but no picture")
    with pytest.raises(ValueError, match="unknown class 'pizza'"):
        capture.add_photo(root, "pizza", jpeg(tmp_path, True, 0))
    assert capture.counts(root) == {"hotdog": 0, "nohotdog": 0}


def test_other_formats_are_stored_as_jpeg(root):
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 30), (200, 40, 40, 128)).save(buffer, "PNG")
    path = capture.add_photo(root, "nohotdog", buffer.getvalue())
    with Image.open(path) as stored:
        assert (stored.format, stored.size) == ("JPEG", (40, 30))


def test_undo_takes_back_the_newest_photo_of_either_class(root, tmp_path):
    assert capture.undo_last(root) is None
    first = capture.add_photo(root, "nohotdog", jpeg(tmp_path, False, 0))
    second = capture.add_photo(root, "hotdog", jpeg(tmp_path, True, 1))
    assert capture.undo_last(root) == second and not second.exists() and first.exists()
    assert capture.add_photo(root, "hotdog", jpeg(tmp_path, True, 2)).name == "photo-00002.jpg"
    assert capture.undo_last(root).name == "photo-00002.jpg" and capture.undo_last(root) == first
    assert capture.counts(root) == {"hotdog": 0, "nohotdog": 0}


def test_viewers_taking_photos_at_once_never_share_a_name(root, tmp_path):
    photos = [jpeg(tmp_path, index % 2 == 0, index) for index in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        saved = list(pool.map(lambda item: capture.add_photo(root, ("hotdog", "nohotdog")[item[0] % 2], item[1]),
                              enumerate(photos)))
    assert sorted(path.name for path in saved) == [f"photo-{number:05d}.jpg" for number in range(1, 25)]
    assert sorted(path.read_bytes() for path in saved) == sorted(photos)


def test_use_needs_two_photos_of_each_class_then_holds_one_out(root, tmp_path):
    for index in range(3):
        capture.add_photo(root, "hotdog", jpeg(tmp_path, True, index))
    capture.add_photo(root, "nohotdog", jpeg(tmp_path, False, 0))
    with pytest.raises(data.DataError, match=r"at least 2 photos of each class first \(hotdog: 3, not hotdog: 1\)"):
        capture.use_photos(root)
    assert workspace.current_dataset() is None
    capture.add_photo(root, "nohotdog", jpeg(tmp_path, False, 1))
    assert capture.use_photos(root) == root.resolve() == workspace.current_dataset()
    assert data.load_dataset(root).counts() == {"train": {"hotdog": 2, "nohotdog": 1},
                                                "validation": {"hotdog": 1, "nohotdog": 1}}
    assert root.resolve() in workspace.dataset_folders()


def test_photos_never_go_into_a_dataset_not_made_with_the_camera(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "appdata"))
    demo = tmp_path / "appdata" / "demo"
    draw_photo(demo / "train" / "hotdog" / "a.jpg", True, 0)
    with pytest.raises(data.DataError, match="not made with the camera; choose another name"):
        capture.add_photo(capture.capture_dir("demo"), "hotdog", jpeg(tmp_path, True, 1))
    assert [path.name for path in (demo / "train" / "hotdog").iterdir()] == ["a.jpg"]
