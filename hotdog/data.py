"""Datasets on disk: find the splits and classes, check them, and feed them to Keras.

A dataset root holds `train/` (required), `validation/` and `test/` (optional), each with one folder per class.
Label 1 is always hotdog, whatever the folder names' alphabetical order.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from hotdog import atomic, cache, images, paths
from hotdog.cache import cache_dir

log = logging.getLogger(__name__)

CLASSES = ("nohotdog", "hotdog")  # index = label
POSITIVE_FOLDERS = {"hotdog", "hot_dog", "hot-dog", "hot dog"}
NEGATIVE_FOLDERS = {"nohotdog", "not_hotdog", "not_hot_dog", "not-hotdog", "nothotdog", "no_hotdog", "not hotdog",
                    "not-hot-dog", "not hot dog", "no-hotdog"}
SPLITS = ("train", "validation", "test")
#: The "split" of a labelled folder without splits: every photo in it.
ALL_PHOTOS = "all"
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
                 "valid": "validation", "test": "test", "testing": "test"}
VALIDATION_FRACTION = 0.2
SMALL_IMAGE_PX = 32
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
OUTSIDE_REASON = "a link leading outside the allowed folders: left out"


class DataError(ValueError):
    """A dataset folder that does not have the expected layout; the message names the path."""


@dataclass(frozen=True)
class Example:
    path: Path
    label: int


@dataclass
class Dataset:
    """The photos of a dataset root, per split. `validation_from_train` says the validation split was carved out;
    `outside` lists (split, path) of files left out because they lead outside the allowed folders."""

    root: Path
    splits: dict[str, list[Example]]
    validation_from_train: bool = False
    outside: list[tuple[str, Path]] = field(default_factory=list)

    def left_out(self) -> list[dict]:
        """The files left out, as check_data and a run's config list unreadable photos."""
        return [{"path": str(path), "split": split, "reason": OUTSIDE_REASON} for split, path in self.outside]

    def counts(self) -> dict[str, dict[str, int]]:
        return {split: class_counts(examples) for split, examples in self.splits.items()}

    def fingerprint(self) -> str:
        """sha256 over every photo's relative path and bytes: the same photos give the same value anywhere."""
        return content_fingerprint(example.path for examples in self.splits.values() for example in examples)


def class_counts(examples: Iterable[Example]) -> dict[str, int]:
    counts = {"hotdog": 0, "nohotdog": 0}
    for example in examples:
        counts[CLASSES[example.label]] += 1
    return counts


def majority_baseline(counts: dict[str, int]) -> float | None:
    """Accuracy of always answering the bigger class: the number any model has to beat."""
    total = sum(counts.values())
    return max(counts.values()) / total if total else None


def class_label(folder_name: str) -> int | None:
    """1 for a hotdog folder, 0 for a not-hotdog folder, None for anything else."""
    name = folder_name.strip().lower()
    if name in POSITIVE_FOLDERS:
        return 1
    if name in NEGATIVE_FOLDERS:
        return 0
    return None


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in IGNORED_NAMES


def _split_examples(split_dir: Path, allowed: list[Path] | None) -> tuple[list[Example], list[Path]]:
    """The photos of one split, and the files left out because, links followed, they lie outside `allowed` (None:
    anywhere is fine)."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir} should be a folder holding one folder per class (hotdog, nohotdog)")
    examples: list[Example] = []
    outside: list[Path] = []
    seen_labels: dict[int, Path] = {}
    for entry in sorted(filter(_visible, split_dir.iterdir())):
        if not entry.is_dir():
            raise DataError(f"{entry} is a file where a class folder belongs: put photos in {split_dir}/hotdog "
                            f"or {split_dir}/nohotdog")
        label = class_label(entry.name)
        if label is None:
            raise DataError(f"{entry}: unknown class folder {entry.name!r}; expected exactly two classes, "
                            f"hotdog and nohotdog (or hot_dog / not_hot_dog, not-hotdog, ...)")
        if label in seen_labels:
            raise DataError(f"{entry} and {seen_labels[label]} are the same class; keep one of them")
        seen_labels[label] = entry
        # rglob does not descend into linked folders, so only the class folder and each file can lead elsewhere:
        # the folder is resolved once, and a file only when it is a link itself.
        folder_inside = allowed is None or paths.is_inside(entry, allowed)
        for path in sorted(entry.rglob("*")):
            hidden = not _visible(path) or not all(map(_visible, path.relative_to(entry).parents[:-1]))
            if hidden or not path.is_file():
                continue
            linked = allowed is not None and path.is_symlink()
            if paths.is_inside(path, allowed) if linked else folder_inside:
                examples.append(Example(path, label))
            else:
                outside.append(path)
    if not examples:
        raise DataError(f"{split_dir} holds no photos: expected {split_dir}/hotdog and {split_dir}/nohotdog")
    if len(seen_labels) < 2:
        missing = "nohotdog" if 1 in seen_labels else "hotdog"
        raise DataError(f"{split_dir} has no {missing} folder: both classes are needed")
    return examples, outside


def _find_splits(root: Path, require_train: bool = True) -> dict[str, Path]:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    found: dict[str, Path] = {}
    for entry in sorted(filter(_visible, root.iterdir())):
        split = SPLIT_ALIASES.get(entry.name.lower())
        if split is None:
            continue
        if split in found:
            raise DataError(f"{entry} and {found[split]} are both a {split} split; keep one")
        found[split] = entry
    if "train" not in found and require_train:
        raise DataError(f"{root} has no train/ folder: a dataset needs train/hotdog and train/nohotdog "
                        f"(validation/ and test/ are optional)")
    return found


def stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of each class, the same photos for the same seed."""
    rng = random.Random(seed)
    kept: list[Example] = []
    held: list[Example] = []
    for label in (0, 1):
        members = [example for example in examples if example.label == label]
        rng.shuffle(members)
        n_held = round(len(members) * fraction) if len(members) > 1 else 0
        n_held = max(n_held, 1) if len(members) > 1 else 0
        held += members[:n_held]
        kept += members[n_held:]
    return sorted(kept, key=lambda e: e.path), sorted(held, key=lambda e: e.path)


def load_dataset(root: str | Path, seed: int = 0, validation_fraction: float = VALIDATION_FRACTION) -> Dataset:
    """List a dataset root's photos per split; without validation/, hold out a stratified share of train.

    A dataset inside the allowed folders (`hotdog.paths`: every dataset the app can choose) keeps to them: a
    photo or a class folder whose links lead outside them is left out (`Dataset.outside`), so a link to the rest of
    the disk cannot put its files in front of the class. A dataset elsewhere, given on the command line, is the
    terminal user's own choice, links and all.
    """
    root = Path(root).expanduser()
    found = _find_splits(root)
    allowed = _bounds(root)
    listed = {split: _split_examples(path, allowed) for split, path in found.items()}
    splits = {split: examples for split, (examples, _) in listed.items()}
    outside = [(split, path) for split, (_, left) in listed.items() for path in left]
    carved = "validation" not in splits
    if carved:
        splits["train"], splits["validation"] = stratified_split(splits["train"], validation_fraction, seed)
        if not splits["validation"]:
            raise DataError(f"{root / 'train'} is too small to hold out validation photos; add photos or a "
                            f"validation/ folder")
    return Dataset(root=root, splits={s: splits[s] for s in SPLITS if s in splits}, validation_from_train=carved,
                   outside=outside)


def holds_class_folders(root: str | Path) -> bool:
    """True when `root` itself holds a hotdog or a not-hotdog folder (a labelled folder without splits)."""
    root = Path(root).expanduser()
    return root.is_dir() and any(entry.is_dir() and class_label(entry.name) is not None
                                 for entry in filter(_visible, root.iterdir()))


def _bounds(root: Path) -> list[Path] | None:
    """The folders the photos of a dataset at `root` must stay in: the allowed folders when it lies inside them,
    else None (anywhere: a folder given on the command line)."""
    roots = paths.allowed_roots()
    return roots if paths.is_inside(root, roots) else None


def load_labelled(root: str | Path, split: str | None = None, seed: int = 0) -> tuple[str, list[Example]]:
    """The labelled photos to score in `root`, as (split, photos).

    `root` is either a dataset with splits (its `split`, test by default; a dataset may hold only test/ here) or
    a plain folder holding the two class folders itself, whose photos all count (split "all").
    """
    root = Path(root).expanduser()
    if holds_class_folders(root):
        if split not in (None, ALL_PHOTOS):
            raise DataError(f"{root} holds class folders without splits: score all of it (no {split} split)")
        return ALL_PHOTOS, _split_examples(root, _bounds(root))[0]
    found = _find_splits(root, require_train=False)
    if not found:
        raise DataError(f"{root} holds neither hotdog and nohotdog folders nor train/ or test/ splits")
    split = split or "test"
    if "train" in found:  # validation may be held out of train, with the same seed as the training
        splits = load_dataset(root, seed=seed).splits
    else:
        splits = {name: _split_examples(path, _bounds(root))[0] for name, path in found.items()}
    if split not in splits:
        raise DataError(f"{root} has no {split} split; it has {', '.join(splits)}")
    return split, splits[split]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes. A training fingerprints each split and then the dataset: an unchanged file
    (same inode, size and modification time) is read and hashed once per process."""
    stat = path.stat()
    return _sha256_of_version(path, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=100_000)
def _sha256_of_version(path: Path, inode: int, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def content_fingerprint(paths: Iterable[Path]) -> str:
    paths = sorted(paths)
    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = list(pool.map(file_sha256, paths))
    total = hashlib.sha256()
    for path, digest in zip(paths, digests):
        total.update(f"{path.parent.name}/{path.name}:{digest}\n".encode())
    return total.hexdigest()


# ---------------------------------------------------------------------------------------------- checking


@dataclass
class Decoded:
    """Photos decoded once to uint8 at one size, with what could not be read."""

    images: np.ndarray  # (n, size, size, 3) uint8, in memory or memory-mapped from the cache
    labels: np.ndarray  # (n,) float32
    paths: list[Path]
    unreadable: list[dict] = field(default_factory=list)


def _read(path: Path, size: int) -> tuple[np.ndarray | None, str | None]:
    try:
        return images.load_array(path, size), None
    except images.ImageError as error:
        return None, str(error)


def check_data(root: str | Path, seed: int = 0) -> dict:
    """Everything a teacher should know before training: counts, baselines, unreadable files, leakage, tiny photos."""
    dataset = load_dataset(root, seed=seed)
    all_examples = [(split, example) for split, examples in dataset.splits.items() for example in examples]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda item: images.probe(item[1].path), all_examples))
    unreadable = [{"path": str(example.path), "split": split, "reason": error}
                  for (split, example), (size, error) in zip(all_examples, results) if error] + dataset.left_out()
    small = [{"path": str(example.path), "width": size[0], "height": size[1]}
             for (_, example), (size, error) in zip(all_examples, results)
             if size and min(size) < SMALL_IMAGE_PX]
    counts = dataset.counts()
    return {
        "root": str(dataset.root),
        "splits": counts,
        "validation_from_train": dataset.validation_from_train,
        "majority_baseline": {split: majority_baseline(c) for split, c in counts.items()},
        "unreadable": unreadable,
        "duplicates_across_splits": cross_split_duplicates(dataset),
        "small_images": small,
    }


def cross_split_duplicates(dataset: Dataset) -> list[list[str]]:
    """Pairs of photos with the same bytes in two different splits (leakage), sorted. A file's hash is computed
    once per process, so a training that fingerprints its dataset gets this for free."""
    all_examples = [(split, example) for split, examples in dataset.splits.items() for example in examples]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        digests = list(pool.map(lambda item: file_sha256(item[1].path), all_examples))
    by_digest: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for (split, example), digest in zip(all_examples, digests):
        by_digest[digest].append((split, example.path))
    pairs = []
    for members in by_digest.values():
        for i, (split_a, path_a) in enumerate(members):
            pairs += [[str(path_a), str(path_b)] for split_b, path_b in members[i + 1:] if split_b != split_a]
    return sorted(pairs)


# ---------------------------------------------------------------------------------------------- input pipeline


def decode(examples: list[Example], size: int, progress: Callable[[int, int], None] | None = None) -> Decoded:
    """Decode each photo once at `size`, skipping unreadable files with a warning; cached on disk by content.

    The cache is a plain .npy file keyed by the photos' fingerprint and size, memory-mapped on load: a second
    run on the same data starts at once, and a dataset bigger than memory is paged from disk.
    """
    paths = [example.path for example in examples]
    key = f"{content_fingerprint(paths)[:24]}-{size}-{images.FRAMING}"
    folder = cache_dir() / "decoded"
    images_file, meta_file = folder / f"{key}.npy", folder / f"{key}.json"
    if cache.verified(images_file) and cache.verified(meta_file):
        return _load_decoded(images_file, meta_file, examples)
    decoded = _decode_all(examples, size, progress)
    _save_decoded(decoded, folder, images_file, meta_file)
    return decoded


def _decode_all(examples: list[Example], size: int, progress: Callable[[int, int], None] | None) -> Decoded:
    arrays = np.zeros((len(examples), size, size, 3), dtype=np.uint8)
    keep = np.zeros(len(examples), dtype=bool)
    unreadable: list[dict] = []
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for index, (array, error) in enumerate(pool.map(lambda e: _read(e.path, size), examples)):
            if error:
                log.warning("skipping unreadable photo %s: %s", examples[index].path, error)
                unreadable.append({"path": str(examples[index].path), "reason": error})
            else:
                arrays[index] = array
                keep[index] = True
            if progress and (index % 32 == 0 or index == len(examples) - 1):
                progress(index + 1, len(examples))
    kept = [example for example, ok in zip(examples, keep) if ok]
    return Decoded(images=arrays[keep], labels=np.array([e.label for e in kept], dtype=np.float32),
                   paths=[e.path for e in kept], unreadable=unreadable)


def _save_decoded(decoded: Decoded, folder: Path, images_file: Path, meta_file: Path) -> None:
    try:
        with atomic.atomic_path(images_file) as temporary:
            np.save(temporary, decoded.images)
        atomic.write_json(meta_file, {"paths": [str(p) for p in decoded.paths], "unreadable": decoded.unreadable})
        cache.seal(images_file)
        cache.seal(meta_file)
    except OSError as error:  # a read-only or full cache only costs speed
        log.warning("could not cache decoded photos in %s: %s", folder, error)


def _load_decoded(images_file: Path, meta_file: Path, examples: list[Example]) -> Decoded:
    import json

    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    labels = {example.path: example.label for example in examples}
    paths = [Path(p) for p in meta["paths"]]
    # The cache is keyed by content; the same photos may sit at another path now.
    if any(path not in labels for path in paths):
        by_name = {(e.path.parent.name, e.path.name): e for e in examples}
        paths = [by_name[(p.parent.name, p.name)].path for p in paths]
    for entry in meta["unreadable"]:
        log.warning("skipping unreadable photo %s: %s", entry["path"], entry["reason"])
    return Decoded(images=np.load(images_file, mmap_mode="r"),
                   labels=np.array([labels[p] for p in paths], dtype=np.float32),
                   paths=paths, unreadable=meta["unreadable"])


def make_tf_dataset(decoded: Decoded, batch_size: int, shuffle: bool, seed: int = 0):
    """Shuffle, batch and prefetch decoded photos as float32 0..255 (each model rescales inside itself)."""
    import tensorflow as tf

    n = len(decoded.labels)
    size = decoded.images.shape[1]
    dataset = tf.data.Dataset.range(n)
    if shuffle:
        dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def gather(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.sort(indices)
        return decoded.images[order].astype(np.float32), decoded.labels[order]

    def load(indices):
        batch_images, batch_labels = tf.numpy_function(gather, [indices], [tf.float32, tf.float32])
        batch_images.set_shape([None, size, size, 3])
        batch_labels.set_shape([None])
        return batch_images, batch_labels

    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
