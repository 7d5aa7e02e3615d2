"""Hostile photos uploaded on the Predict page (AppTest): a verdict card or a clear reason each, no exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import hostile
from conftest import REPO
from hotdog import images

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]  # shared fixtures are not counted
PAGE = str(REPO / "app_pages" / "predict.py")
CANNOT_READ = "Cannot read this photo: "


def upload_name(name: str) -> str:
    """The uploader only takes photo extensions; a student renames the rest (drawing.svg -> drawing.svg.png)."""
    return name if name.rsplit(".", 1)[-1] in images.PHOTO_TYPES else f"{name}.png"


@pytest.fixture
def page(trained_run: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(trained_run.parent))
    return AppTest.from_file(PAGE, default_timeout=120).run()


def test_every_hostile_photo_gets_a_card_with_a_verdict_or_its_reason(page):
    uploads = [(upload_name(kind.name), kind.make(), "application/octet-stream") for kind in hostile.KINDS]
    page.file_uploader(key="photos").set_value(uploads).run()

    assert not page.exception, [exception.value for exception in page.exception]
    errors = [error.value for error in page.error]
    assert len(errors) == sum(1 for kind in hostile.KINDS if kind.reason)
    titles = [markdown.value for markdown in page.markdown if markdown.value.startswith("#### ⚠️ ")]
    for title, error in zip(titles, errors):
        name = title.removeprefix("#### ⚠️ ")
        original = next(kind.name for kind in hostile.KINDS if upload_name(kind.name) == name)
        assert error.startswith(CANNOT_READ)
        hostile.assert_answered(original, None, error.removeprefix(CANNOT_READ))
    assert {"phone-photo.heic", "photo.avif"} <= {kind.name for kind in hostile.KINDS if not kind.reason}
    assert "phone-photo.heic" not in titles and "photo.avif" not in titles  # taken as they are, and read
    readable = len(hostile.KINDS) - len(errors)
    assert len(page.image) == readable and len(page.get("progress")) == readable
    [summary] = [markdown.value for markdown in page.markdown if "photo(s):" in markdown.value]
    assert f"{len(hostile.KINDS)} photo(s):" in summary and f"{len(errors)} unreadable" in summary


def test_a_crafted_upload_with_another_extension_is_refused_by_streamlit_before_our_code(page):
    """The browser's uploader only offers photo extensions; a hand-made request is refused by Streamlit itself."""
    page.file_uploader(key="photos").set_value([("drawing.svg", hostile.SVG, "image/svg+xml")]).run()
    allowed = [f".{extension}" for extension in images.PHOTO_TYPES]
    assert [exception.value for exception in page.exception] == [f"Invalid file extension: `.svg`. Allowed: {allowed}"]
    assert not page.error and not page.image  # nothing of the file reached hotdog
