"""Training throughput of the `seed` model, three input pipelines interleaved in one run (issue 5, item 1).

    python -m bench.throughput [--batch-size 32] [--rounds 5] [--data DIR/train] [--image-size 120]

(a) seed: the blog post's own recipe, tf_keras `ImageDataGenerator(rescale=1/255).flow_from_directory(...)` feeding
    the same network built in tf_keras (Keras 2);
(b) ours: `hotdog.data.decode` (decoded once, cached as uint8) + `hotdog.data.make_tf_dataset`, feeding
    `hotdog.models.build_model("seed")`;
(c) bound: the same model fed float32 tensors already decoded in memory (no input pipeline work left).

Each pipeline first trains one warm-up epoch (tracing, the cache being built), then the pipelines take turns, one
epoch each, for `--rounds` rounds. Images/s = photos per epoch / epoch seconds; ratios are taken within a round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import report, shared_data_or_exit, summary  # noqa: E402


def epoch_timer(callback_base):
    """A callback class (for either Keras) that records each epoch's wall time."""

    class EpochTimer(callback_base):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer


def train_examples(train_dir: Path):
    """Every photo of the train folder, as flow_from_directory sees them (the dataset root has validation/)."""
    from hotdog import data

    return data.load_dataset(train_dir.parent).splits["train"]


def seed_pipeline(train_dir: Path, image_size: int, batch_size: int):
    """(a) The blog post's recipe in Keras 2, layer for layer the network of `hotdog.models.build_seed`."""
    import tf_keras
    from tf_keras import layers
    from tf_keras.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        str(train_dir), target_size=(image_size, image_size), batch_size=batch_size, class_mode="binary")
    model = tf_keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(image_size, image_size, 3)),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    timer = epoch_timer(tf_keras.callbacks.Callback)()

    def one_epoch() -> None:
        model.fit(generator, epochs=1, verbose=0, callbacks=[timer])

    return one_epoch, timer, generator.samples


def product_pipeline(train_dir: Path, image_size: int, batch_size: int):
    """(b) What `hotdog.training` trains with: decoded once (cache), shuffled, batched and prefetched by tf.data."""
    import keras

    from hotdog import data
    from hotdog.models import build_model

    decoded = data.decode(train_examples(train_dir), image_size)
    dataset = data.make_tf_dataset(decoded, batch_size, shuffle=True)
    model = build_model("seed", image_size)
    timer = epoch_timer(keras.callbacks.Callback)()

    def one_epoch() -> None:
        model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])

    return one_epoch, timer, len(decoded.labels)


def compute_bound(train_dir: Path, image_size: int, batch_size: int):
    """(c) The same model fed float32 tensors already in memory: only the model's own work remains."""
    import keras
    import numpy as np
    import tensorflow as tf

    from hotdog import data
    from hotdog.models import build_model

    decoded = data.decode(train_examples(train_dir), image_size)
    images = tf.constant(np.asarray(decoded.images, dtype=np.float32))
    labels = tf.constant(decoded.labels)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    model = build_model("seed", image_size)
    timer = epoch_timer(keras.callbacks.Callback)()

    def one_epoch() -> None:
        model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])

    return one_epoch, timer, len(decoded.labels)


PIPELINES = {"a_seed_imagedatagenerator": seed_pipeline, "b_product_tf_data": product_pipeline,
             "c_compute_bound_in_memory": compute_bound}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a train/ folder (default: the shared photos)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=5, help="steady-state epochs per pipeline, interleaved")
    args = parser.parse_args()
    train_dir = args.data or shared_data_or_exit() / "train"

    built = {name: build(train_dir, args.image_size, args.batch_size) for name, build in PIPELINES.items()}
    for one_epoch, _, _ in built.values():
        one_epoch()  # warm-up: tracing and retracing for the last, smaller batch
    for _ in range(args.rounds):
        for one_epoch, _, _ in built.values():
            one_epoch()

    counts = {photos for _, _, photos in built.values()}
    assert len(counts) == 1, f"the pipelines disagree on the number of photos: {counts}"
    rates = {name: [photos / seconds for seconds in timer.seconds[1:]] for name, (_, timer, photos) in built.items()}
    a, b, c = rates.values()
    figures = {f"{name} img/s": summary(values) for name, values in rates.items()}
    figures["b/a (same round)"] = summary([y / x for x, y in zip(a, b)])
    figures["b/c (same round)"] = summary([y / x for x, y in zip(c, b)])
    figures["targets"] = (f"b/a >= 3: {statistics.median(b) / statistics.median(a):.2f}; "
                          f"b/c >= 0.9: {statistics.median(b) / statistics.median(c):.2f}")
    report(f"training throughput, seed model, {args.image_size}x{args.image_size}, batch {args.batch_size}, "
           f"{train_dir}", figures)


if __name__ == "__main__":
    main()
