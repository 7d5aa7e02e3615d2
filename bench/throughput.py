"""Training throughput of the `seed` model, three input pipelines interleaved in one run.

    python -m bench.throughput [--batch-size 32] [--rounds 5] [--mixed-precision] [--data ROOT/train]

(a) seed: the blog post's own recipe, tf_keras `ImageDataGenerator(rescale=1/255).flow_from_directory(...)` feeding
    the same network built in tf_keras (Keras 2);
(b) ours: `hotdog.data.decode` (decoded once, cached as uint8) + `hotdog.data.make_tf_dataset`, feeding
    `hotdog.models.build_model("seed")`;
(c) bound: the same model fed float32 tensors already decoded in memory (no input pipeline work left).

Each pipeline first trains one warm-up epoch (tracing, the cache being built), then the pipelines take turns, one
epoch each, for `--rounds` rounds. Images/s = photos per epoch / epoch seconds; ratios are taken within a round.
`--mixed-precision` adds (b) and (c) with the model built the way `train --mixed-precision` builds it.
"""

from __future__ import annotations

import argparse
import os
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
            self.cpu_seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self.started[0])
            self.cpu_seconds.append(time.process_time() - self.started[1])

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
    from hotdog import data

    decoded = data.decode(train_examples(train_dir), image_size)
    return seed_model_on(data.make_tf_dataset(decoded, batch_size, shuffle=True), image_size, len(decoded.labels))


def compute_bound(train_dir: Path, image_size: int, batch_size: int):
    """(c) The same model fed float32 tensors already in memory: only the model's own work remains."""
    import numpy as np
    import tensorflow as tf

    from hotdog import data

    decoded = data.decode(train_examples(train_dir), image_size)
    images = tf.constant(np.asarray(decoded.images, dtype=np.float32))
    dataset = tf.data.Dataset.from_tensor_slices((images, tf.constant(decoded.labels)))
    return seed_model_on(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), image_size, len(decoded.labels))


def seed_model_on(dataset, image_size: int, photos: int):
    """`hotdog.models.build_model("seed")` trained one epoch per call on `dataset`, timed."""
    import keras

    from hotdog.models import build_model

    model = build_model("seed", image_size)
    timer = epoch_timer(keras.callbacks.Callback)()

    def one_epoch() -> None:
        model.fit(dataset, epochs=1, verbose=0, callbacks=[timer], shuffle=False)  # as hotdog.training does

    return one_epoch, timer, photos


def in_mixed_precision(build):
    """The same pipeline with the model built as `--mixed-precision` builds it (bfloat16 compute on a CPU)."""

    def build_mixed(*args):
        import keras

        from hotdog import devices

        devices.setup(mixed_precision=True)
        try:
            return build(*args)
        finally:
            keras.mixed_precision.set_global_policy("float32")

    return build_mixed


PIPELINES = {"a_seed_imagedatagenerator": seed_pipeline, "b_product_tf_data": product_pipeline,
             "c_compute_bound_in_memory": compute_bound}
MIXED_PIPELINES = {"b_product_tf_data --mixed-precision": in_mixed_precision(product_pipeline),
                   "c_compute_bound_in_memory --mixed-precision": in_mixed_precision(compute_bound)}


def ratios(rates: dict[str, list[float]], unit: str) -> dict[str, str]:
    """Each pipeline's rate, and b/a and b/c taken within each round (the same machine load)."""
    figures = {f"{name} {unit}": summary(values) for name, values in rates.items()}
    a = rates["a_seed_imagedatagenerator"]
    for suffix in [""] + [" --mixed-precision"] * any("mixed" in name for name in rates):
        b, c = rates[f"b_product_tf_data{suffix}"], rates[f"c_compute_bound_in_memory{suffix}"]
        figures[f"b{suffix}/a, {unit}"] = summary([y / x for x, y in zip(a, b)])
        figures[f"b{suffix}/c{suffix}, {unit}"] = summary([y / x for x, y in zip(c, b)])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a train/ folder (default: the shared photos)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=5, help="steady-state epochs per pipeline, interleaved")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="also (b) and (c) with the model in mixed precision, as `train --mixed-precision`")
    args = parser.parse_args()
    train_dir = args.data or shared_data_or_exit() / "train"

    pipelines = {**PIPELINES, **(MIXED_PIPELINES if args.mixed_precision else {})}
    built = {name: build(train_dir, args.image_size, args.batch_size) for name, build in pipelines.items()}
    for one_epoch, _, _ in built.values():
        one_epoch()  # warm-up: tracing and retracing for the last, smaller batch
    for _ in range(args.rounds):
        for one_epoch, _, _ in built.values():
            one_epoch()

    counts = {photos for _, _, photos in built.values()}
    assert len(counts) == 1, f"the pipelines disagree on the number of photos: {counts}"
    figures = {}
    for unit, seconds_of in (("img/s", "seconds"), ("img per CPU-s", "cpu_seconds")):
        rates = {name: [photos / seconds for seconds in getattr(timer, seconds_of)[1:]]
                 for name, (_, timer, photos) in built.items()}
        figures.update(ratios(rates, unit))
    report(f"training throughput, seed model, {args.image_size}x{args.image_size}, batch {args.batch_size}, "
           f"{train_dir}", figures)


if __name__ == "__main__":
    main()
