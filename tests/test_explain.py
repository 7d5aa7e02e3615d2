"""Grad-CAM, "why did it say that?": real models of every kind, real gradients, real pictures written by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo, run_cli
from hotdog import demo_data, explain, images, prior
from hotdog.models import build_model
from hotdog.predict import Classifier


def half_photo(index: int, hotdog_left: bool) -> Image.Image:
    """A demo-data hot dog in one half of a square photo, as tall as the photo and half as wide as drawn; the other
    half is bare table of the same colour."""
    food = demo_data.draw_example("hotdog", 1, "test", index)
    table = tuple(int(value) for value in np.asarray(food)[:8, :8].reshape(-1, 3).mean(0))
    photo = Image.new("RGB", (2 * food.width, food.height), table)
    photo.paste(food, (0 if hotdog_left else food.width, 0))
    return photo.resize((food.height, food.height), Image.Resampling.BILINEAR)


def left_share(heat: np.ndarray) -> float:
    """Share of the heat in the left half (a middle column, if any, counts for neither)."""
    width = heat.shape[1]
    return float(heat[:, : width // 2].sum() / heat.sum()) if width % 2 == 0 else \
        float(heat[:, : width // 2].sum() / (heat.sum() - heat[:, width // 2].sum()))


def assert_real_heatmap(heat: np.ndarray) -> None:
    assert heat.ndim == 2 and heat.shape[0] > 1 and heat.shape[1] > 1
    assert np.isfinite(heat).all(), "NaN or infinite heat"
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    assert heat.std() > 0.01, "constant heatmap"


@pytest.mark.slow
@pytest.mark.parametrize("hotdog_left", [True, False])
def test_most_heat_lies_in_the_half_that_holds_the_hot_dog(trained_run: Path, hotdog_left: bool):
    classifier = Classifier.load(trained_run)
    cam = explain.grad_cam(classifier)
    for index in range(4):
        photo = half_photo(index, hotdog_left)
        _, maps = cam.signed_maps(images.to_array(photo, classifier.image_size)[None])
        heat = explain.heatmap(maps[0], hotdog=True)
        assert_real_heatmap(heat)
        share = left_share(heat) if hotdog_left else 1.0 - left_share(heat)
        assert share > 0.5, f"photo {index}: only {share:.0%} of the heat lies in the hot dog's half"


def saved(model, folder: Path, name: str) -> Path:
    path = folder / f"{name}.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def every_kind(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One saved model of each kind, loaded back the way the app loads them: seed trained on the demo data, cnn and
    transfer (EfficientNet-Lite2 backbone nested in the model) as built, and the zero-shot ImageNet model."""
    folder = tmp_path_factory.mktemp("kinds")
    return {"seed": str(trained_run), "cnn": str(saved(build_model("cnn", image_size=64), folder, "cnn")),
            "transfer": str(saved(build_model("transfer", image_size=96), folder, "transfer")),
            "imagenet": "imagenet"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["seed", "cnn", "transfer", "imagenet"])
def test_every_model_kind_gets_a_real_heatmap_and_the_same_verdict(every_kind: dict, kind: str, tmp_path: Path):
    classifier = Classifier.load(every_kind[kind])
    photos = [draw_photo(tmp_path / f"{i}.jpg", i % 2 == 0, i) for i in range(3)]
    photos.append(demo_data.draw_example("hotdog", 0, "test", 3))
    explanations = explain.explain(classifier, photos)
    for explanation, verdict in zip(explanations, classifier.predict(photos)):
        assert explanation.verdict.p_hotdog == pytest.approx(verdict.p_hotdog, abs=1e-4)
        assert_real_heatmap(explanation.heatmap)


@pytest.mark.slow
def test_a_sure_verdict_still_has_a_heatmap(trained_run: Path):
    """P(hotdog) that rounds to exactly 0 or 1 has no gradient; the logit before the sigmoid still has one."""
    import keras

    model = keras.saving.load_model(trained_run / "model.keras")
    kernel, bias = model.get_layer("p_hotdog").get_weights()
    model.get_layer("p_hotdog").set_weights([kernel * 1e4, bias * 1e4])
    classifier = Classifier(model, "sure", "sure")
    photos = [demo_data.draw_example(label, 0, "test", index) for label in ("hotdog", "nohotdog") for index in (1, 2)]
    explanations = explain.explain(classifier, photos)
    assert {e.verdict.p_hotdog for e in explanations} <= {0.0, 1.0}, "the test needs saturated verdicts"
    for explanation in explanations:
        assert_real_heatmap(explanation.heatmap)


def test_a_sure_zero_shot_verdict_still_has_a_heatmap(tmp_path: Path):
    """The zero-shot model's verdict is a sigmoid of ImageNet's calibrated log P(hot dog): its logit is taken before
    the sigmoid, so it has a gradient where P is exactly 0 or 1."""
    model = prior.build_imagenet(96)
    verdict = model.get_layer(prior.MIX)
    kernel, bias = verdict.get_weights()
    verdict.set_weights([kernel * 200, bias * 200])
    classifier = Classifier(model, "sure", "sure")
    photos = [draw_photo(tmp_path / f"{i}.jpg", i % 2 == 0, i) for i in range(4)]
    explanations = explain.explain(classifier, photos)
    assert any(e.verdict.p_hotdog in (0.0, 1.0) for e in explanations), "the test needs saturated verdicts"
    for explanation in explanations:
        assert_real_heatmap(explanation.heatmap)


def test_overlay_colours_the_hot_spot_and_keeps_the_photo_shape():
    photo = Image.new("RGB", (300, 200), (128, 128, 128))
    heat = np.zeros((7, 7), np.float32)
    heat[1, 1] = 1.0  # hot near the top left corner of what the model saw: the centre 175 x 175 of the photo
    blended = np.asarray(explain.overlay(photo, heat), np.int32)
    assert blended.shape == (200, 300, 3)
    left, top, right, bottom = images.centre_box(300, 200)
    assert (left, top, right, bottom) == (62.5, 12.5, 237.5, 187.5)
    hot = blended[round(top + 1.5 / 7 * (bottom - top)), round(left + 1.5 / 7 * (right - left))]
    cold = blended[-1, -1]
    assert np.abs(hot - 128).sum() > 60, "the hot spot is not coloured"
    assert np.abs(cold - 128).sum() <= 3, "a cold spot is covered"
    everywhere = np.asarray(explain.overlay(photo, np.ones((7, 7), np.float32)), np.int32)
    assert np.abs(everywhere[100, 150] - 128).sum() > 60
    assert np.abs(everywhere[100, 20] - 128).sum() <= 3, "heat drawn outside the part of the photo the model saw"


@pytest.mark.slow
def test_an_unreadable_photo_gets_its_reason_and_the_others_their_heatmaps(trained_run: Path, tmp_path: Path):
    good = draw_photo(tmp_path / "good.jpg", True, 1)
    explanations = explain.explain(Classifier.load(trained_run), [b"not a photo", good], names=["bad", "good"])
    assert explanations[0].heatmap is None and "not an image" in explanations[0].verdict.error
    assert explanations[1].verdict.source == "good"
    assert_real_heatmap(explanations[1].heatmap)


@pytest.mark.slow
def test_explain_cli_writes_one_picture_per_photo(trained_run: Path, tmp_path: Path):
    first = draw_photo(tmp_path / "a" / "dog.jpg", True, 1)
    second = draw_photo(tmp_path / "b" / "dog.jpg", False, 2)  # the same name: two pictures all the same
    broken = tmp_path / "broken.jpg"
    broken.write_text("no pixels here")
    out = tmp_path / "out"
    result = run_cli("explain", trained_run, first, second, broken, "--out", out, "--json")
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["path"] for line in lines] == [str(first), str(second), str(broken)]
    assert "not an image" in lines[2]["error"]
    pictures = [Path(line["heatmap"]) for line in lines[:2]]
    assert len(set(pictures)) == 2 and all(picture.parent == out for picture in pictures)
    for picture, photo in zip(pictures, (first, second)):
        with Image.open(picture) as written, Image.open(photo) as original:
            assert written.size == original.size
            assert np.abs(np.asarray(written, np.int32) - np.asarray(original.convert("RGB"), np.int32)).max() > 30
    text = run_cli("explain", trained_run, first, "--out", out).stdout
    assert ("Hotdog!" in text or "Not hotdog!" in text) and "heatmap" in text
    failed = run_cli("explain", trained_run, broken, "--out", out, check=False)
    assert failed.returncode == 1 and "cannot read" in failed.stdout
