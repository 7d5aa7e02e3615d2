"""The Predict page: a real JPEG gets a big verdict, a bad file gets its reason while the others still get
verdicts, and the threshold slider moves every verdict without re-running the model."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import runs
from hotdog.predict import Classifier

PAGE = str(REPO / "app_pages" / "predict.py")
VERDICTS = re.compile(r"(Not hotdog!|Hotdog!)</div>")


@pytest.fixture
def page(quick_run: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(quick_run.parent))
    return AppTest.from_file(PAGE, default_timeout=120).run()


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="photos").set_value([(name, content, "image/jpeg") for name, content in files])
    return at.run()


def verdicts(at: AppTest) -> list[str]:
    return [match.group(1) for m in at.markdown for match in [VERDICTS.search(m.value)] if match]


def drawing_badges(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "learned from drawings, not photos" in m.value]


def held_out_photo(dataset: Path, label: str) -> tuple[str, bytes]:
    """A real JPEG of the test split, never seen in training."""
    path = sorted((dataset / "test" / label).glob("*.jpg"))[0]
    return path.name, path.read_bytes()


def test_latest_completed_run_is_the_default_model(page, quick_run):
    assert page.selectbox(key="model").value.source == str(quick_run)
    assert quick_run.name in page.selectbox(key="model").options[0]


def test_a_real_jpeg_gets_the_models_verdict(page, quick_run, tiny_dataset):
    name, photo = held_out_photo(tiny_dataset, "hotdog")
    upload(page, (name, photo))
    assert not page.exception and not page.error
    expected = Classifier.load(quick_run).predict([photo])[0]
    assert verdicts(page) == [expected.label]
    [bar] = page.get("progress")
    assert f"P(hotdog) = {expected.p_hotdog:.0%}" in bar.proto.text
    assert len(page.image) == 1 and page.download_button
    assert not page.warning and not drawing_badges(page)  # learned from photos: no notice


def test_a_bad_file_gets_its_reason_and_the_good_ones_their_verdicts(page, tiny_dataset):
    upload(page, held_out_photo(tiny_dataset, "hotdog"), ("broken.jpg", b"\xff\xd8\xff this is no photo"),
           held_out_photo(tiny_dataset, "nohotdog"))
    assert not page.exception
    assert len(verdicts(page)) == 2
    [error] = page.error
    assert error.value.startswith("Cannot read this photo:") and "broken.jpg" in "".join(m.value for m in page.markdown)
    [summary] = [m.value for m in page.markdown if "photo(s):" in m.value]
    assert "3 photo(s)" in summary and "1 unreadable" in summary


def test_threshold_slider_moves_every_verdict(page, quick_run, tiny_dataset):
    photos = [held_out_photo(tiny_dataset, "hotdog"), held_out_photo(tiny_dataset, "nohotdog")]
    scores = [verdict.p_hotdog for verdict in Classifier.load(quick_run).predict([p for _, p in photos])]
    upload(page, *photos)
    shown = {}
    for threshold in (0.0, 0.5, 1.0):
        page.slider(key="threshold").set_value(threshold).run()
        shown[threshold] = verdicts(page)
        assert shown[threshold] == ["Hotdog!" if score >= threshold else "Not hotdog!" for score in scores]
    assert shown[0.0] == ["Hotdog!", "Hotdog!"] and "Not hotdog!" in shown[1.0]


@pytest.mark.slow
def test_imagenet_needs_no_training_and_says_what_it_sees(tmp_path, monkeypatch):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the real test photos")
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "no-runs"))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert len(at.selectbox(key="model").options) == 1 and at.selectbox(key="model").value.source == "imagenet"
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.coffee()).save(buffer, "JPEG")
    upload(at, ("coffee.jpg", buffer.getvalue()))
    assert not at.exception and not at.error
    assert verdicts(at) == ["Not hotdog!"]
    assert any(caption.value.startswith("ImageNet sees: espresso") for caption in at.caption)


def test_why_shows_the_heatmap_of_each_verdict_on_its_own_card(page, tiny_dataset):
    upload(page, held_out_photo(tiny_dataset, "hotdog"), held_out_photo(tiny_dataset, "nohotdog"))
    labels = verdicts(page)
    whys = [toggle for toggle in page.toggle if toggle.label == "Why? Show where it looked"]
    assert len(whys) == 2 and not any(image.proto.imgs[0].caption for image in page.image)
    whys[1].set_value(True).run()
    assert not page.exception
    captions = [image.proto.imgs[0].caption for image in page.image]
    assert captions == ["", f"Red: where the network found the evidence for \u201c{labels[1]}\u201d (Grad-CAM)."]
    page.slider(key="threshold").set_value(0.0).run()  # every verdict becomes Hotdog!: the heatmap follows
    assert [image.proto.imgs[0].caption for image in page.image][1].endswith("\u201cHotdog!\u201d (Grad-CAM).")


@pytest.mark.slow
def test_a_model_that_learned_drawings_says_so_on_every_card(trained_run, tiny_dataset, monkeypatch):
    assert runs.Run(trained_run).dataset["synthetic"] is True  # the training recorded it
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(trained_run.parent))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert at.selectbox(key="model").value.source == str(trained_run)  # the seed model, trained on the demo data
    [notice] = at.warning
    assert "learned from drawings, not photos" in notice.value
    assert "ImageNet, no training" in notice.value and "**transfer**" in notice.value
    upload(at, held_out_photo(tiny_dataset, "hotdog"), held_out_photo(tiny_dataset, "nohotdog"))
    assert len(verdicts(at)) == 2 and len(drawing_badges(at)) == 2
