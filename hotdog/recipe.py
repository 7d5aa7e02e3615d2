"""What every architecture's training shares: how a model is compiled, the augmentation layers, class weights.

Both `hotdog.models` (the registry) and `hotdog.transfer` (pretrained backbones) build on these, so neither has to
import the other. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def compile_model(model: "keras.Model", learning_rate: float | None = None, decay_steps: int | None = None,
                  optimizer: "keras.optimizers.Optimizer | None" = None, steps_per_execution: int = 1) -> None:
    """Adam at `learning_rate` (cosine-annealed over `decay_steps`), or the given `optimizer`, shared with its state.

    `steps_per_execution` > 1 runs that many batches per call into TensorFlow: the same training, faster for tiny
    models, but batch callbacks then see every that many batches.
    """
    import keras

    if optimizer is None:
        if decay_steps:
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=0.05)
        optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")], steps_per_execution=steps_per_execution)


def augmentation(seed: int | None = None) -> "keras.Sequential":
    """Random flips, turns, zooms and contrast: active while training, a no-op when predicting."""
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.1, fill_mode="reflect", seed=seed),
        layers.RandomZoom((-0.2, 0.1), fill_mode="reflect", seed=seed),
        layers.RandomContrast(0.2, seed=seed),
    ], name="augmentation")


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weigh each class by the inverse of its share, so "always nohotdog" stops being a good answer."""
    total = len(labels)
    positives = float(np.sum(labels))
    counts = {0: total - positives, 1: positives}
    return {label: total / (2 * count) for label, count in counts.items() if count}
