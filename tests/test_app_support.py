"""The library behind the app's pages: the shared dataset choice, chart data, model list (the Train page's live
view: test_monitor.py)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import make_dataset
from hotdog import archives, atomic, charts, data, devices, evaluate, runs, workspace


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "appdata"
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(folder))
    return folder


def test_dataset_choice_is_shared_on_disk_and_survives_a_missing_folder(data_dir, tmp_path):
    assert workspace.current_dataset() is None
    root = make_dataset(tmp_path / "photos", {"train": 3})
    assert workspace.use_dataset(root) == root.resolve()
    assert json.loads((data_dir / workspace.WORKSPACE_FILE).read_text())["dataset"] == str(root.resolve())
    assert workspace.current_dataset() == root.resolve()
    with pytest.raises(data.DataError):
        workspace.use_dataset(tmp_path)  # not a dataset: the choice stays as it was
    assert workspace.current_dataset() == root.resolve()
    shutil.rmtree(root)
    assert workspace.current_dataset() is None


def test_zip_that_is_safe_but_not_a_dataset_leaves_nothing(data_dir):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pets/train/cats/1.jpg", b"x")
    with pytest.raises(data.DataError, match="unknown class folder 'cats'"):
        workspace.import_zip(io.BytesIO(buffer.getvalue()), "pets")
    assert not any(data_dir.iterdir()) and workspace.current_dataset() is None


def test_uploaded_photos_become_the_dataset_in_use_and_are_listed(data_dir, tmp_path):
    source = make_dataset(tmp_path / "source", {"train": 3})
    photos = {label: [(path.name, path.read_bytes()) for path in sorted((source / "train" / label).iterdir())]
              for label in ("hotdog", "nohotdog")}
    root = workspace.import_photos(photos, "class 7b")
    assert root == (data_dir / "class-7b").resolve() == workspace.current_dataset()
    assert data.load_dataset(root).counts()["train"] == {"hotdog": 2, "nohotdog": 2}  # a fifth held out
    nested = archives.extract_dataset_zip(_zip_of(source, "wrapped"), data_dir, "upload")
    assert nested == data_dir / "upload" / "wrapped"
    assert workspace.dataset_folders() == [root, nested.resolve()]
    samples = workspace.sample_photos(root, per_class=5)
    assert list(samples) == ["hotdog", "nohotdog"] and all(len(paths) == 2 for paths in samples.values())
    assert all(path.parent.name == label for label, paths in samples.items() for path in paths)


def _zip_of(root: Path, wrapper: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in root.rglob("*.jpg"):
            archive.write(path, f"{wrapper}/{path.relative_to(root)}")
    buffer.seek(0)
    return buffer


def test_folder_signature_changes_when_a_photo_is_added(tmp_path):
    root = make_dataset(tmp_path / "ds", {"train": 2})
    before = workspace.folder_signature(root)
    assert before[0] == 4
    (root / "train" / "hotdog" / "new.jpg").write_bytes((root / "train" / "hotdog" / "0.jpg").read_bytes())
    assert workspace.folder_signature(root)[0] == 5


def test_evaluation_charts_build_from_real_metrics():
    labels, scores = [0, 0, 1, 1], [0.1, 0.7, 0.4, 0.9]
    result = evaluate.binary_metrics(labels, scores)
    spec = charts.confusion_chart(result["confusion_matrix"]).to_dict()
    cells = next(iter(spec["datasets"].values()))
    assert {(c["truth"], c["said"], c["photos"]) for c in cells} == {
        ("nohotdog", "nohotdog", 1), ("nohotdog", "hotdog", 1), ("hotdog", "nohotdog", 1), ("hotdog", "hotdog", 1)}
    assert charts.roc_chart(evaluate.roc_curve(labels, scores), (0.5, 0.5), result["roc_auc"]).to_dict()
    assert charts.pr_chart(evaluate.pr_curve(labels, scores), (0.5, 0.5), 0.5).to_dict()
    wrong = evaluate.misclassified(["a", "b", "c", "d"], labels, scores, 0.5)
    assert [(w["path"], w["label"]) for w in wrong] == [("b", "nohotdog"), ("c", "hotdog")]  # most wrong first


def test_model_choices_put_the_latest_completed_run_first(tmp_path):
    def finished_run_folder(run_id: str, state: str) -> runs.Run:
        """Listing reads only the folder's files, so a placeholder model file is enough here."""
        run = runs.Run(tmp_path / run_id)
        run.path.mkdir()
        atomic.write_json(run.path / runs.CONFIG, {"settings": {"model": "seed"}})
        run.update_status(state=state, best_val_accuracy=0.9)
        run.model_path.write_bytes(b"model")
        return run

    older = finished_run_folder("20250101-000000-seed-aaaa", "completed")
    finished_run_folder("20250102-000000-seed-bbbb", "stopped")
    choices = workspace.model_choices(tmp_path)
    assert choices[0].run == older
    assert choices[0].label == f"{older.id} · Seed CNN (the blog post) · validation accuracy 90% · completed"
    assert [c.source for c in choices[2:]] == (["imagenet"] if workspace.imagenet_available() else [])


def test_a_run_knows_it_learned_from_drawings(demo_dataset, tiny_dataset, tmp_path):
    def run_with(config: dict) -> runs.Run:
        run = runs.Run(tmp_path / f"run-{len(list(tmp_path.iterdir()))}")
        run.path.mkdir()
        atomic.write_json(run.path / runs.CONFIG, config)
        return run

    assert workspace.learned_from_drawings(run_with({"dataset": {"path": str(tiny_dataset), "synthetic": True}}))
    assert not workspace.learned_from_drawings(run_with({"dataset": {"path": str(demo_dataset), "synthetic": False}}))
    # Not started yet, or recorded before runs said so: the dataset folder itself tells.
    assert workspace.learned_from_drawings(run_with({"settings": {"data": str(demo_dataset)}}))
    assert not workspace.learned_from_drawings(run_with({"settings": {"data": str(tiny_dataset)}}))


def test_quick_device_description_needs_no_tensorflow():
    probe = ("import sys; from hotdog import devices, workspace; "
             "print(devices.quick_describe()); print('tensorflow' in sys.modules)")
    description, tensorflow_loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                    check=True).stdout.splitlines()
    assert tensorflow_loaded == "False"
    assert description.startswith(f"GPU: {devices.driver_gpu_names()[0]}" if devices.driver_gpu_names() else "CPU: ")


def test_progress_reaches_the_browser_once_per_percent():
    seen = []
    report = workspace.per_percent(seen.append)
    for done in range(1, 801):
        report(done / 800)
    assert len(seen) == 101 and seen[-1] == 1.0  # 0% to 100%
