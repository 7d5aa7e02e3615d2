"""Verdicts and evaluation, on a really trained model and real files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo, last_json, run_cli
from hotdog import evaluate
from hotdog.predict import Classifier


@pytest.fixture(scope="module")
def classifier(trained_run):
    return Classifier.load(trained_run)


@pytest.mark.slow
def test_predict_cli_answers_each_photo_and_explains_bad_ones(trained_run, tmp_path):
    hotdog = draw_photo(tmp_path / "dog.jpg", True, 1)
    broken = tmp_path / "broken.jpg"
    broken.write_text("no pixels here")
    result = run_cli("predict", trained_run, hotdog, broken, "--json")
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert lines[0]["path"] == str(hotdog) and lines[0]["verdict"] in ("hotdog", "nohotdog")
    assert 0.0 <= lines[0]["p_hotdog"] <= 1.0
    assert lines[1] == {"path": str(broken), "error": lines[1]["error"]} and "not an image" in lines[1]["error"]
    text = run_cli("predict", trained_run / "model.keras", hotdog).stdout
    assert ("Hotdog!" in text or "Not hotdog!" in text) and "P(hotdog)" in text


@pytest.mark.slow
def test_threshold_moves_the_verdict(trained_run, tmp_path):
    photo = draw_photo(tmp_path / "x.jpg", True, 2)
    everything = last_json(run_cli("predict", trained_run, photo, "--json", "--threshold", "0").stdout)
    nothing = last_json(run_cli("predict", trained_run, photo, "--json", "--threshold", "1.01").stdout)
    assert (everything["verdict"], nothing["verdict"]) == ("hotdog", "nohotdog")


@pytest.mark.slow
def test_paths_bytes_and_pil_images_give_the_same_answer(classifier, tmp_path):
    path = draw_photo(tmp_path / "p.png", False, 3, fmt="PNG")
    verdicts = classifier.predict([path, path.read_bytes(), Image.open(path)])
    assert len({round(v.p_hotdog, 5) for v in verdicts}) == 1
    assert verdicts[0].label in ("Hotdog!", "Not hotdog!") and verdicts[1].source == "uploaded bytes"
    assert 0.5 <= verdicts[0].confidence <= 1.0


@pytest.mark.slow
def test_classifier_matches_the_keras_model_on_the_same_pixels(classifier, trained_run, tmp_path):
    import keras

    from hotdog.images import load_array

    path = draw_photo(tmp_path / "q.jpg", True, 4)
    expected = keras.saving.load_model(trained_run / "model.keras").predict(
        load_array(path, 120)[None].astype("float32"), verbose=0)[0, 0]
    assert classifier.predict(path)[0].p_hotdog == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.slow
def test_evaluate_reports_honest_metrics_and_keeps_predictions(trained_run, demo_dataset):
    result = last_json(run_cli("evaluate", trained_run, "--data", demo_dataset, "--json").stdout)
    for key in ("n", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix",
                "majority_baseline"):
        assert key in result
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    assert tn + fp + fn + tp == result["n"] > 0
    assert result["accuracy"] == pytest.approx((tn + tp) / result["n"])
    paths, labels, scores = evaluate.read_predictions(trained_run, "test")
    assert len(paths) == result["n"] and set(labels) == {0, 1} and ((0 <= scores) & (scores <= 1)).all()
    assert "balanced_accuracy" in run_cli("evaluate", trained_run, "--data", demo_dataset).stdout


def test_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.1, 0.3, 0.4])
    metrics = evaluate.binary_metrics(y, p)
    assert metrics["confusion_matrix"] == [[4, 1], [1, 2]]
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["majority_baseline"] == pytest.approx(5 / 8) and metrics["majority_class"] == "nohotdog"
    # 15 hotdog/nohotdog pairs; hotdog ranks above in 0.9>all 5, 0.6>4, 0.2>2 (0.1, 0.1) -> 11/15
    assert metrics["roc_auc"] == pytest.approx(11 / 15)
    roc = evaluate.roc_curve(y, p)
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(11 / 15)
    pr = evaluate.pr_curve(y, p)
    assert pr["precision"][0] == 1.0 and pr["recall"][-1] == 1.0


def test_always_nohotdog_scores_the_baseline_and_half_balanced():
    y = np.array([0] * 87 + [1] * 13)
    metrics = evaluate.binary_metrics(y, np.zeros(100))
    assert metrics["accuracy"] == pytest.approx(0.87) == metrics["majority_baseline"]
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)


@pytest.mark.slow
def test_missing_model_gets_a_clear_message(tmp_path):
    result = run_cli("predict", tmp_path, io.__name__, check=False)
    assert result.returncode == 2 and "no model at" in result.stderr
