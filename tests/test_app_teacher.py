"""The teacher password guards every action that changes what the whole class sees, on every page: greyed-out
buttons, forged clicks that do nothing, and a password typed once that holds while the teacher moves between pages."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, make_dataset
from hotdog import runs, workspace

APP = str(REPO / "streamlit_app.py")
DATA_PAGE = str(REPO / "app_pages" / "data.py")
#: Every button of the Data page that changes the dataset in use.
DATA_ACTIONS = ("use_demo", "use_known", "use_typed", "use_zip", "use_photos", "use_download")


@pytest.fixture
def locked(tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A password set, the tiny dataset in use, and a second dataset waiting in the app's data folder."""
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("HOTDOG_DATA_ROOTS", raising=False)
    monkeypatch.setenv("HOTDOG_TEACHER_PASSWORD", "mustard")
    workspace.use_dataset(tiny_dataset)
    return make_dataset(tmp_path / "appdata" / "class-photos", {"train": 3})


def zip_of(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*.jpg")):
            archive.write(path, str(path.relative_to(root)))
    return buffer.getvalue()


def forged_click(at: AppTest, key: str) -> AppTest:
    """What a crafted websocket message does: press a greyed-out button anyway (AppTest, like a browser, refuses
    to press it, so the test lifts the greying first)."""
    button = at.button(key=key)
    button.proto.disabled = False
    return button.click().run()


def fill_every_action(at: AppTest, other: Path) -> AppTest:
    """Give every Data-page action what it needs, so only the password can hold it back."""
    at.text_input(key="typed_folder").input("class-photos")
    at.file_uploader(key="dataset_zip").set_value(("lunch.zip", zip_of(other), "application/zip"))
    for label in ("hotdog", "nohotdog"):
        photos = sorted((other / "train" / label).glob("*.jpg"))
        at.file_uploader(key=f"{label}_photos").set_value([(p.name, p.read_bytes(), "image/jpeg") for p in photos])
    return at.run()


@pytest.mark.slow
def test_every_data_action_is_locked_and_a_forged_click_changes_nothing(locked, tiny_dataset):
    at = fill_every_action(AppTest.from_file(DATA_PAGE, default_timeout=60).run(), locked)
    assert not at.exception
    assert all(at.button(key=key).disabled for key in DATA_ACTIONS)
    assert any("Enter the teacher password" in caption.value for caption in at.sidebar.caption)
    before = sorted(path.name for path in locked.parent.iterdir())
    for key in DATA_ACTIONS:
        forged_click(at, key)
        assert not at.exception and not at.success, key
    assert workspace.current_dataset() == tiny_dataset.resolve()
    assert sorted(path.name for path in locked.parent.iterdir()) == before  # nothing imported, drawn or fetched

    at.text_input(key="teacher_password").input("ketchup").run()
    assert all(at.button(key=key).disabled for key in DATA_ACTIONS)
    at.text_input(key="teacher_password").input("mustard").run()
    assert not any(at.button(key=key).disabled for key in DATA_ACTIONS)
    at.button(key="use_typed").click().run()
    assert at.success[0].value == f"Now using {locked.resolve()}"
    assert workspace.current_dataset() == locked.resolve()


def test_the_password_typed_on_one_page_holds_on_the_others(locked):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["worker_started"] = True  # no warm training worker: nothing here trains
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, [exception.value for exception in at.exception]
    assert at.button(key="start").disabled
    at.text_input(key="teacher_password").input("mustard").run()
    assert not at.button(key="start").disabled
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    assert at.text_input(key="teacher_password").value == "mustard"
    assert not at.button(key="use_known").disabled and not at.button(key="use_demo").disabled
    at.switch_page("app_pages/train.py").run()
    assert not at.button(key="start").disabled
    assert runs.list_runs() == []


def test_a_forged_start_on_the_train_page_starts_nothing(locked):
    at = AppTest.from_file(str(REPO / "app_pages" / "train.py"), default_timeout=60).run()
    assert at.button(key="start").disabled
    forged_click(at, "start")
    assert not at.exception and runs.list_runs() == []
