"""The Runs page: two real runs side by side, a kept export's check, rename and delete behind a confirmation and
the teacher password."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import export, runs, training

PAGE = str(REPO / "app_pages" / "runs.py")

#: Every test here reads runs trained for real for it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_pair(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("runs-page")
    made = []
    for epochs in (1, 2):
        run = training.new_run(training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=epochs,
                                                    image_size=48, batch_size=8), folder)
        training.train(run, verbose=0)
        made.append(run.path)
    return made


@pytest.fixture
def runs_dir(trained_pair: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of the two runs in a runs folder of their own: renaming and deleting here leave the originals."""
    for path in trained_pair:
        shutil.copytree(path, tmp_path / "runs" / path.name)
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    return tmp_path / "runs"


def open_page(secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.secrets.update(secrets or {})
    return at.run()


def test_two_runs_side_by_side(runs_dir: Path):
    at = open_page()
    assert not at.exception
    ids = [run.id for run in runs.list_runs(runs_dir)]
    assert len(at.multiselect(key="compare").value) == 2
    titles = {json.loads(chart.proto.spec)["title"]: chart for chart in at.get("vega_lite_chart")}
    assert set(titles) == {"Validation accuracy", "Validation loss (lower is better)"}
    rows = dataframe_util.convert_arrow_bytes_to_pandas_df(titles["Validation accuracy"].proto.datasets[0].data.data)
    assert sorted(rows.groupby("run").size().items()) == sorted(zip(ids, (2, 1)))  # epochs per run
    [table] = at.dataframe
    assert list(table.value["run"]) == ids and list(table.value["epochs"]) == ["2/2", "1/1"]


def test_a_kept_export_says_how_it_was_checked(runs_dir: Path):
    run = runs.list_runs(runs_dir)[0]
    _, check = export.run_export(run, "tflite")
    at = open_page()
    assert any(caption.value.endswith(check) for caption in at.caption)
    assert {button.label for button in at.get("download_button")} == {kind.title for kind in export.FORMATS.values()}


def test_rename_then_delete_with_confirmation(runs_dir: Path):
    first, second = runs.list_runs(runs_dir)
    at = open_page()
    at.text_input(key="rename-name").input("the good one").run()
    at.button(key="rename").click().run()
    renamed = f"{first.id[:15]}-the-good-one-{first.id[-4:]}"
    assert at.success[0].value == f"Renamed to {renamed}"
    assert [run.id for run in runs.list_runs(runs_dir)] == [renamed, second.id]

    at.selectbox(key="manage").select_index(1).run()
    assert at.button(key="delete").disabled  # nothing happens before "Yes, delete"
    at.checkbox(key="delete-sure").check().run()
    at.button(key="delete").click().run()
    assert at.success[0].value == f"Deleted {second.id}"
    assert [run.id for run in runs.list_runs(runs_dir)] == [renamed]


def test_a_training_run_cannot_be_deleted(runs_dir: Path):
    run = runs.list_runs(runs_dir)[0]
    run.update_status(state="running", pid=os.getpid(), heartbeat=time.time())
    at = open_page()
    at.checkbox(key="delete-sure").check().run()
    at.button(key="delete").click().run()
    assert "Not deleted: run" in at.error[0].value and "is training" in at.error[0].value
    assert run.path.is_dir()


def test_the_teacher_password_guards_rename_and_delete(runs_dir: Path):
    at = open_page({"teacher_password": "mustard"})
    at.text_input(key="rename-name").input("mine").run()
    at.checkbox(key="delete-sure").check().run()
    assert at.button(key="rename").disabled and at.button(key="delete").disabled
    at.text_input(key="teacher_password").input("mustard").run()
    assert not at.button(key="rename").disabled and not at.button(key="delete").disabled
    assert len(runs.list_runs(runs_dir)) == 2
