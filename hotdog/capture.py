"""Photos taken with the camera, one at a time, straight into a class folder of a new dataset, Teachable-Machine
style: `<app data folder>/<name>/train/{hotdog,nohotdog}/photo-00001.jpg`, `photo-00002.jpg`, ...

Each photo is decoded once before it is kept, written atomically under the next free number (a lock on disk keeps
two viewers taking photos at the same moment from picking the same one), and the newest photo can be taken back.
The dataset holds only train/: a fifth of each class is held out for validation when it is used.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

from hotdog import archives, atomic, data, images, paths, workspace
from hotdog.locking import file_lock

CLASSES = ("hotdog", "nohotdog")
#: Marks a dataset made with the camera: photos are only ever added to such a folder, never to another dataset.
MARKER = "CAMERA.txt"
#: Fewest photos per class before the dataset can be used: one to train on and one held out for validation.
MIN_PER_CLASS = 2
#: Photos per class that give the transfer model something to learn from.
SUGGESTED_PER_CLASS = 15
JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_QUALITY = 92
_LOCK = ".capture.lock"
_NUMBERED = re.compile(r"^photo-(\d+)\.jpg$")


def capture_dir(name: str) -> Path:
    """Where the photos of the camera dataset called `name` go, in the app's data folder."""
    return paths.app_data_dir() / archives.safe_name(name, "camera-photos")


def counts(root: Path) -> dict[str, int]:
    """Photos taken so far per class (0 and 0 for a dataset not started yet)."""
    return {label: len(_numbered(root / "train" / label)) for label in CLASSES}


def latest(root: Path, label: str, count: int) -> list[Path]:
    """The `count` newest photos of one class, newest first (for thumbnails)."""
    return [path for _, path in sorted(_numbered(root / "train" / label), reverse=True)[:count]]


def add_photo(root: Path, label: str, photo: bytes) -> Path:
    """Keep one photo of class `label` as the dataset's next photo and return its path.

    The photo is decoded first: one that cannot be read raises `images.ImageError` and nothing is written. A
    JPEG is kept byte for byte; any other format is stored as a JPEG of its decoded pixels.
    """
    if label not in CLASSES:
        raise ValueError(f"unknown class {label!r}; photos are either {' or '.join(CLASSES)}")
    decoded = images.load_rgb(photo)
    if bytes(photo[:3]) != JPEG_MAGIC:
        buffer = io.BytesIO()
        decoded.save(buffer, "JPEG", quality=JPEG_QUALITY)
        photo = buffer.getvalue()
    _prepare(root)
    with file_lock(root / _LOCK):
        taken = [number for each in CLASSES for number, _ in _numbered(root / "train" / each)]
        path = root / "train" / label / f"photo-{max(taken, default=0) + 1:05d}.jpg"
        atomic.write_bytes(path, bytes(photo))  # the data check and training never see half a photo
    return path


def undo_last(root: Path) -> Path | None:
    """Delete the newest photo of either class and return where it was; None when there is none."""
    if not root.is_dir():
        return None
    with file_lock(root / _LOCK):
        numbered = [entry for label in CLASSES for entry in _numbered(root / "train" / label)]
        if not numbered:
            return None
        _, newest = max(numbered)
        newest.unlink(missing_ok=True)
        return newest


def use_photos(root: Path) -> Path:
    """Make the camera dataset the one in use for everyone, once each class has enough photos (DataError)."""
    taken = counts(root)
    if min(taken.values()) < MIN_PER_CLASS:
        raise data.DataError(f"take at least {MIN_PER_CLASS} photos of each class first (hotdog: {taken['hotdog']}, "
                             f"not hotdog: {taken['nohotdog']}); {SUGGESTED_PER_CLASS} of each work well")
    return workspace.use_dataset(root)


def _prepare(root: Path) -> None:
    """Create the dataset with its marker in one rename (two viewers may start it at once); refuse a folder that
    already holds something else."""
    if not (root / MARKER).is_file():
        with archives.scratch_path(root.parent, archives.PARTIAL_PREFIX) as partial:  # removed unless renamed
            partial.mkdir()
            (partial / MARKER).write_text("Photos taken with the camera on the Data page of Hotdog or Not.\n",
                                          encoding="utf-8")
            with contextlib.suppress(OSError):  # started by someone else just now, or another dataset's folder
                os.rename(partial, root)
        if not (root / MARKER).is_file():
            raise data.DataError(f"{root} already holds something not made with the camera; choose another name")
    for label in CLASSES:
        (root / "train" / label).mkdir(parents=True, exist_ok=True)


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return [(int(match.group(1)), folder / name) for name in os.listdir(folder)
            if (match := _NUMBERED.match(name))]

