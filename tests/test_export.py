"""Exports that reload: each format is written by the real CLI, read back by its own runtime (Keras,
tf.lite.Interpreter, tf.saved_model) and must agree with the Keras model on 20 photos it has not been calibrated on:
drawn photos always, real photos when ../shared is present."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, last_json, needs_shared_data, run_cli
from hotdog import export, images, runs
from hotdog.predict import Classifier

FORMATS = list(export.FORMATS)

#: Every test here trains, converts or starts TensorFlow in a subprocess.
pytestmark = pytest.mark.slow


def photos_of(folder: Path, per_class: int, size: int) -> np.ndarray:
    """The first `per_class` photos of each class of a split folder, uint8 at the model's size."""
    paths = [path for label in ("hotdog", "nohotdog") for path in sorted((folder / label).iterdir())[:per_class]]
    return np.stack([images.load_array(path, size) for path in paths])


def assert_agrees(model: Path, exported: Path, fmt: str, photos: np.ndarray) -> None:
    expected = Classifier.load(model).predict_proba(photos)
    got = export.load_export(exported)(photos)
    assert got.shape == expected.shape == (len(photos),)
    assert np.isfinite(got).all() and ((got >= 0) & (got <= 1)).all()
    same = int(np.sum((got >= 0.5) == (expected >= 0.5)))
    if fmt == "tflite-int8":
        assert same >= len(photos) - 1, f"int8: only {same}/{len(photos)} verdicts agree"
    else:  # float16 weights: within 0.02; the Keras and SavedModel files hold the very same float32 weights
        tolerance = 0.02 if fmt == "tflite" else 1e-4
        assert np.abs(got - expected).max() <= tolerance, f"{fmt}: P(hotdog) differs by {np.abs(got - expected).max()}"
        assert same == len(photos)


def export_all(model: Path, folder: Path, *extra: str) -> dict[str, Path]:
    """Every format through `python -m hotdog export`; the CLI's own check must have passed too."""
    written = {}
    for fmt in FORMATS:
        result = run_cli("export", model, "--format", fmt, "--out", f"{folder}/", *extra)
        path = Path(result.stdout.split("wrote ", 1)[1].split(" (", 1)[0])
        assert path.parent == folder and path.suffix == export.FORMATS[fmt].suffix
        assert "reloaded and checked on 20 photos" in result.stdout
        written[fmt] = path
    assert len(set(written.values())) == len(FORMATS)
    return written


@pytest.fixture(scope="module")
def demo_exports(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return export_all(trained_run, tmp_path_factory.mktemp("demo-exports"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_export_reloads_and_agrees_on_drawn_photos(trained_run: Path, demo_exports: dict, demo_dataset: Path,
                                                        fmt: str):
    size = Classifier.load(trained_run).image_size
    assert_agrees(trained_run, demo_exports[fmt], fmt, photos_of(demo_dataset / "test", 10, size))


def test_exports_are_smaller_than_the_run_checkpoint(trained_run: Path, demo_exports: dict):
    """No optimizer state in an export; int8 is the smallest."""
    checkpoint = (trained_run / runs.BEST_MODEL).stat().st_size
    sizes = {fmt: path.stat().st_size for fmt, path in demo_exports.items()}
    assert sizes["keras"] < checkpoint / 2
    assert sizes["tflite-int8"] < sizes["tflite"] < sizes["keras"]


@pytest.fixture(scope="module")
def real_transfer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("real-runs")
    result = run_cli("train", "--data", SHARED_DATA, "--model", "transfer", "--epochs", "10", "--runs-dir", runs_dir,
                     "--json", timeout=1200)
    summary = last_json(result.stdout)
    assert summary["state"] == "completed", summary
    return Path(summary["run"])


@needs_shared_data
def test_each_export_of_a_transfer_model_agrees_on_real_photos(real_transfer_run: Path,
                                                               tmp_path_factory: pytest.TempPathFactory):
    exported = export_all(real_transfer_run, tmp_path_factory.mktemp("real-exports"))
    photos = photos_of(SHARED_DATA / "test", 10, Classifier.load(real_transfer_run).image_size)
    for fmt, path in exported.items():
        assert_agrees(real_transfer_run, path, fmt, photos)


def test_int8_without_training_photos_is_refused_in_one_line(tmp_path: Path):
    result = run_cli("export", "imagenet", "--format", "tflite-int8", "--out", tmp_path / "x.tflite", check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "needs training photos" in errors[0]
    assert not any(tmp_path.iterdir())


def test_a_wrong_file_ending_is_refused_before_any_work(trained_run: Path, tmp_path: Path):
    result = run_cli("export", trained_run, "--format", "tflite", "--out", tmp_path / "model.keras", check=False)
    assert result.returncode == 2 and "a tflite export is a .tflite file" in result.stderr
    assert not any(tmp_path.iterdir())


def test_run_export_is_made_once_and_remade_when_the_model_changes(quick_run: Path, tmp_path: Path):
    run = runs.Run(Path(shutil.copytree(quick_run, tmp_path / quick_run.name)))
    path, check = export.run_export(run, "tflite")
    assert path.parent == run.path / export.EXPORTS_FOLDER and path.name == f"{run.id}.tflite"
    assert check.startswith("reloaded and checked on")
    made = path.stat().st_mtime_ns
    assert export.run_export(run, "tflite") == (path, check) and path.stat().st_mtime_ns == made
    run.model_path.touch()  # a newer model: the export is stale
    export.run_export(run, "tflite")
    assert path.stat().st_mtime_ns > made
