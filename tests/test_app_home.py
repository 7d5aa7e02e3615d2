"""The Home page: first start draws the demo data and says it is synthetic, without importing TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import demo_data, runs, worker, workspace

APP = str(REPO / "streamlit_app.py")

#: Runs the Home page in a fresh interpreter, so no other test's TensorFlow import can hide one made by Home.
FIRST_START = """
import json, sys, time
from streamlit.testing.v1 import AppTest
started = time.time()
at = AppTest.from_file(sys.argv[1], default_timeout=300).run()
print(json.dumps({"seconds": time.time() - started, "exceptions": [e.message for e in at.exception],
                  "text": [m.value for m in at.markdown] + [i.value for i in at.info],
                  "links": [link.label for link in at.get("page_link")],
                  "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.fixture(autouse=True)
def no_training_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here trains: the app starts no warm worker importing TensorFlow beside these tests."""
    monkeypatch.setenv(worker.NO_FORK_ENV, "1")


@pytest.mark.slow
def test_first_start_draws_the_demo_data_says_it_is_synthetic_and_never_loads_tensorflow(tmp_path):
    env = {**os.environ, "HOTDOG_DATA_DIR": str(tmp_path / "data"), "HOTDOG_RUNS_DIR": str(tmp_path / "runs")}
    output = subprocess.run([sys.executable, "-c", FIRST_START, APP], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=600, check=True).stdout
    page = json.loads(output.strip().splitlines()[-1])
    assert page["exceptions"] == []
    assert page["tensorflow"] is False
    demo = tmp_path / "data" / workspace.DEMO_FOLDER
    assert demo_data.is_complete(demo)
    assert json.loads((tmp_path / "data" / workspace.WORKSPACE_FILE).read_text())["dataset"] == str(demo.resolve())
    text = "\n".join(page["text"])
    assert "synthetic drawings" in text and "### demo" in text and "### none yet" in text
    assert [label.strip("*") for label in page["links"]] == ["Data", "Train", "Predict", "Evaluate", "Runs"]


def test_home_shows_device_dataset_models_and_latest_run(quick_run, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(quick_run.parent))
    workspace.use_dataset(tiny_dataset)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    text = [m.value for m in at.markdown]
    assert "### CPU" in text or any(t.startswith("### GPU") for t in text)
    assert f"### {tiny_dataset.name}" in text and "### 1" in text and "### completed" in text
    assert not at.info  # a real dataset: no "synthetic" warning
    assert any(quick_run.name in caption.value for caption in at.caption)
    assert not (tmp_path / "data" / workspace.DEMO_FOLDER).exists()  # a chosen dataset is never replaced


@pytest.fixture(scope="module")
def empty_app(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data folder with the tiny dataset in use and one empty runs folder, shared by the page tests (the app
    warms one training worker per runs folder)."""
    folder = tmp_path_factory.mktemp("empty-app")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOTDOG_DATA_DIR", str(folder / "data"))
        patch.setenv("HOTDOG_RUNS_DIR", str(folder / "runs"))
        workspace.use_dataset(tiny_dataset)
        yield folder / "runs"


@pytest.mark.parametrize("page, title", [("data", "Data"), ("train", "Train"), ("predict", "Predict"),
                                         ("evaluate", "Evaluate"), ("runs", "Runs side by side")])
def test_every_page_opens_from_home(page, title, empty_app):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert at.title[0].value.endswith(title)
    assert runs.list_runs(empty_app) == []  # opening a page never starts anything
