"""The registry and its architectures, built for real."""

from __future__ import annotations

import numpy as np
import pytest

from hotdog import models


def test_seed_is_the_blog_posts_network_exactly():
    model = models.build_model("seed")
    assert model.input_shape == (None, 120, 120, 3)
    assert model.count_params() == 1_615_905
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_615_905
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Rescaling", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                     "Dense", "Dense"]
    assert [layer.output.shape[1:] for layer in model.layers[2:]] == [
        (118, 118, 32), (59, 59, 32), (57, 57, 32), (28, 28, 32), (25088,), (64,), (1,)]
    assert model.layers[1].scale == pytest.approx(1 / 255)
    assert type(model.optimizer).__name__ == "Adam" and model.loss == "binary_crossentropy"


def test_cnn_augments_only_while_training():
    model = models.build_model("cnn", image_size=64)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Rescaling", "BatchNormalization", "Dropout", "GlobalAveragePooling2D"} <= kinds
    augmentation = model.get_layer("augmentation")
    assert [type(layer).__name__ for layer in augmentation.layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast"]
    photos = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(augmentation(photos, training=False), photos, atol=1e-5)
    assert not np.allclose(augmentation(photos, training=True), photos)
    np.testing.assert_allclose(model(photos, training=False), model(photos, training=False), atol=1e-6)


def test_every_model_takes_raw_pixels_and_answers_a_probability():
    for name in models.model_names(trainable_only=True):
        spec = models.get_spec(name)
        if spec.image_size > 128:
            continue  # large pretrained backbones have their own tests
        model = models.build_model(name)
        scores = np.asarray(model(np.full((2, spec.image_size, spec.image_size, 3), 255.0), training=False))
        assert scores.shape == (2, 1) and ((0 <= scores) & (scores <= 1)).all(), name


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*seed.*cnn"):
        models.get_spec("resnet9000")


def test_registering_a_new_architecture_plugs_it_in():
    spec = models.register(models.ModelSpec(name="tiny-test", title="t", description="d", image_size=32,
                                            build=models.build_seed, augment=False))
    try:
        assert "tiny-test" in models.model_names()
        assert models.build_model("tiny-test").input_shape == (None, 32, 32, 3)
    finally:
        models.REGISTRY.pop(spec.name)
