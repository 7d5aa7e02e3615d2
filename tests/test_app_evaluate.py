"""The Evaluate page: score a split once, then metrics against the baseline, confusion matrix, curves and mistakes,
all following the threshold slider."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import evaluate

PAGE = str(REPO / "app_pages" / "evaluate.py")


@pytest.fixture
def run_copy(quick_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quick run in a runs folder of its own, so scoring it here leaves the shared one as it was."""
    copy = shutil.copytree(quick_run, tmp_path / "runs" / quick_run.name)
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(copy.parent))
    return copy


def chart_data(at: AppTest, title_start: str) -> list[dict]:
    for chart in at.get("vega_lite_chart"):
        if json.loads(chart.proto.spec)["title"].startswith(title_start):
            return dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data).to_dict("records")
    raise AssertionError(f"no chart titled {title_start!r}")


def confusion(at: AppTest) -> dict[tuple[str, str], int]:
    return {(cell["truth"], cell["said"]): cell["photos"] for cell in chart_data(at, "Confusion matrix")}


def test_scoring_a_split_then_following_the_threshold(run_copy, tiny_dataset):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert at.selectbox(key="split").value == "test"
    assert "has not scored its test photos" in at.info[0].value and evaluate.read_predictions(run_copy, "test") is None
    at.button(key="score").click().run()
    assert not at.exception and not at.error
    paths, labels, scores = evaluate.read_predictions(run_copy, "test")
    assert len(paths) == 16  # the tiny dataset's test split: 8 + 8 photos
    expected = evaluate.binary_metrics(labels, scores, 0.5)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Accuracy"] == f"{expected['accuracy']:.1%}"
    assert "Always answering" in at.markdown[0].value and "50%" in at.markdown[0].value
    (tn, fp), (fn, tp) = expected["confusion_matrix"]
    assert confusion(at) == {("nohotdog", "nohotdog"): tn, ("nohotdog", "hotdog"): fp,
                             ("hotdog", "nohotdog"): fn, ("hotdog", "hotdog"): tp}
    assert chart_data(at, "ROC curve") and chart_data(at, "Precision and recall")
    assert at.subheader[0].value == f"Mistakes at threshold 0.50: {fn + fp}" and len(at.image) == min(fn + fp, 1)

    at.slider(key="threshold").set_value(0.0).run()  # everything is called hotdog
    assert confusion(at) == {("nohotdog", "nohotdog"): 0, ("nohotdog", "hotdog"): 8,
                             ("hotdog", "nohotdog"): 0, ("hotdog", "hotdog"): 8}
    assert at.subheader[0].value == "Mistakes at threshold 0.00: 8"
    assert {metric.label: metric.value for metric in at.metric}["Recall"] == "100.0%"

    plain = [image.url for image in at.image[0].proto.imgs]
    at.toggle(key="mistakes-why").set_value(True).run()  # why did it call these 8 not-hotdogs hotdog?
    assert not at.exception
    heatmaps = at.image[0].proto.imgs
    assert len(heatmaps) == 8 and [image.url for image in heatmaps] != plain
    assert all(image.caption.startswith("nohotdog, P(hotdog)") for image in heatmaps)


def test_no_trained_model_says_where_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(PAGE).run()
    assert "No trained model yet" in at.info[0].value and not at.exception
