"""Verdicts and evaluation, on a really trained model and real files."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHIFT_DATA, draw_photo, last_json, make_dataset, needs_shift_data, run_cli
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
    assert tn + fp + fn + tp == result["n"] > 0 and result["split"] == "test"
    assert result["accuracy"] == pytest.approx((tn + tp) / result["n"])
    saved = evaluate.load_evaluation(trained_run, demo_dataset, "test")
    assert Path(result["saved_to"]).parent == trained_run / evaluate.EVALUATIONS
    assert len(saved.paths) == result["n"] and set(saved.labels) == {0, 1} and not saved.stale
    assert ((0 <= saved.scores) & (saved.scores <= 1)).all()
    assert saved.metrics()["confusion_matrix"] == result["confusion_matrix"]
    assert "balanced_accuracy" in run_cli("evaluate", trained_run, "--data", demo_dataset).stdout


@pytest.mark.slow
def test_a_plain_class_folder_is_scored_whole_with_hotdog_positive(quick_run, tmp_path):
    """Any spelling of the two class folders, no splits: every photo counts, hotdog is the positive class, and the
    saved scores are those of the command's photos, in the run folder."""
    make_dataset(tmp_path / "spelled", {"set": 5}, positive="hot_dog", negative="not-hotdog")
    draw_photo(tmp_path / "spelled" / "set" / "not-hotdog" / "extra.png", False, 9, fmt="PNG")
    (tmp_path / "spelled" / "set" / "hot_dog" / "broken.jpg").write_text("not a photo")
    folder = tmp_path / "spelled" / "set"
    output = run_cli("evaluate", quick_run, "--data", folder).stdout
    assert f"{folder}: every photo, 11 photos" in output and "unreadable, skipped" in output
    result = last_json(run_cli("evaluate", quick_run, "--data", folder, "--json").stdout)
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    assert (result["split"], tp + fn, tn + fp) == ("all", 5, 6)
    saved = evaluate.load_evaluation(quick_run, folder, "all")
    expected = Classifier.load(quick_run).predict(sorted(str(p) for p in (folder / "hot_dog").glob("*.jpg")
                                                         if p.name != "broken.jpg"))
    hotdog_scores = dict(zip(saved.paths, saved.scores))
    assert [hotdog_scores[v.source] for v in expected] == pytest.approx([v.p_hotdog for v in expected], abs=1e-5)
    assert all(label == (Path(path).parent.name == "hot_dog") for path, label in zip(saved.paths, saved.labels))
    assert [entry.title for entry in evaluate.saved_evaluations(quick_run)][0] == "set, all photos"


@pytest.mark.slow
@pytest.mark.parametrize("arguments,message", [
    (["--split", "test"], "holds class folders without splits"),
    ([], "holds neither hotdog and nohotdog folders nor train/ or test/ splits"),
])
def test_evaluate_explains_a_folder_it_cannot_score(quick_run, tmp_path, arguments, message):
    make_dataset(tmp_path / "photos", {"": 2})
    (tmp_path / "empty").mkdir()
    folder = tmp_path / ("photos" if arguments else "empty")
    result = run_cli("evaluate", quick_run, "--data", folder, *arguments, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_changed_model_makes_its_saved_scores_stale(quick_run, tiny_dataset, tmp_path):
    run = Path(shutil.copytree(quick_run, tmp_path / quick_run.name))
    evaluate.evaluate(run, tiny_dataset, "validation")
    assert not evaluate.load_evaluation(run, tiny_dataset, "validation").stale
    os.utime(run / "model.keras", (time.time() + 5, time.time() + 5))
    assert evaluate.load_evaluation(run, tiny_dataset, "validation").stale
    assert evaluate.load_evaluation(run, tiny_dataset, "test") is None


@pytest.mark.slow
@needs_shift_data
def test_shift_dtu_is_scored_as_one_labelled_folder(quick_run):
    result = last_json(run_cli("evaluate", quick_run, "--data", SHIFT_DATA, "--json").stdout)
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    assert (result["split"], result["n"], tp + fn, tn + fp) == ("all", 500, 250, 250)
    assert evaluate.load_evaluation(quick_run, SHIFT_DATA, "all").metrics()["n"] == 500


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
