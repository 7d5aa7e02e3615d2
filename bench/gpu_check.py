"""Training throughput of the product's models on the accelerator Keras sees, on any Keras backend.

    bench/gpu_check.sh                  # installs what it needs, then runs this module
    python -m bench.gpu_check [--photos 4766] [--epochs 3] [--models seed cnn transfer] [--batch-sizes 32 256]

Draws the photos with `hotdog.demo_data`, decodes them once with `hotdog.data.decode` (as training does), builds each
model with `hotdog.models.build_model` (preprocessing inside, as saved) and fits it for `--epochs` epochs per
setting: float32 and mixed precision (float16 on a GPU, bfloat16 on a CPU, as `train --mixed-precision` chooses),
at each batch size. The first epoch compiles the training step and is left out: img/s is the photos of one epoch
divided by the median time of the later epochs. A transfer model trains its head on backbone features computed once
(`features img/s`: the backbone's forward pass over the photos), then `fine-tune img/s` fits the whole model with
the top of its backbone unfrozen, as `--fine-tune-epochs` does.

`KERAS_BACKEND` picks the backend (tensorflow, jax or torch); the device line says which accelerator it used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import report  # noqa: E402


def accelerator() -> tuple[str, bool]:
    """The device Keras computes on, as its backend names it, and whether it is a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax {jax.__version__}, {device.platform}: {device.device_kind}", device.platform == "gpu"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"torch {torch.__version__}, gpu: {torch.cuda.get_device_name(0)}", True
        return f"torch {torch.__version__}, cpu", False
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"tensorflow {tf.__version__}, gpu: {tf.config.experimental.get_device_details(gpus[0])}", True
    return f"tensorflow {tf.__version__}, cpu", False


class EpochTimer:
    """Wall seconds of each epoch, as a Keras callback (built lazily so importing this module needs no Keras)."""

    def __new__(cls):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.started = 0.0

            def on_epoch_begin(self, epoch, logs=None) -> None:
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None) -> None:
                self.seconds.append(time.perf_counter() - self.started)

        return Timer()


def steady_rate(photos: int, seconds: list[float]) -> float:
    """Images per second over the epochs after the first (which compiles)."""
    return photos / statistics.median(seconds[1:] or seconds)


def fit_rate(model, images, labels, batch_size: int, epochs: int) -> float:
    timer = EpochTimer()
    model.fit(images, labels, batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0, shuffle=True)
    return steady_rate(len(labels), timer.seconds)


def predict_rate(model, images, batch_size: int, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(images, batch_size=batch_size, verbose=0)
        seconds.append(time.perf_counter() - started)
    return steady_rate(len(images), seconds)


def measure(name: str, photos, mixed: bool, gpu: bool, batch_size: int, args: argparse.Namespace) -> dict:
    """img/s of one model in one setting; for a transfer model, its backbone's features and its fine-tuning."""
    import keras
    import numpy as np

    from hotdog import data
    from hotdog.models import build_model, get_spec

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(("mixed_float16" if gpu else "mixed_bfloat16") if mixed
                                            else "float32")
    spec = get_spec(name)
    decoded = data.decode(photos, spec.image_size)
    images, labels = np.asarray(decoded.images, dtype=np.float32), decoded.labels
    model = build_model(name)
    if not spec.transfer:
        return {"img/s": round(fit_rate(model, images, labels, batch_size, args.epochs))}
    from hotdog import transfer

    figures = {"features img/s": round(predict_rate(model.get_layer(transfer.BACKBONE), images, batch_size,
                                                    args.epochs))}
    transfer.prepare_fine_tuning(model)
    figures["fine-tune img/s"] = round(fit_rate(model, images, labels, batch_size, args.epochs))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=4766, help="train photos, half of them hot dogs")
    parser.add_argument("--epochs", type=int, default=3, help="at least 2: the first one compiles")
    parser.add_argument("--models", nargs="+", default=["seed", "cnn", "transfer"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 256])
    args = parser.parse_args()
    from hotdog import data, demo_data

    device, gpu = accelerator()
    figures: dict = {"device": device}
    with tempfile.TemporaryDirectory(prefix="hotdog-gpu-check-") as scratch:
        os.environ.setdefault("HOTDOG_CACHE_DIR", str(Path(scratch) / "cache"))
        started = time.perf_counter()
        root = demo_data.generate(Path(scratch) / "photos", per_class={"train": args.photos // 2,
                                                                                  "validation": 1})
        photos = data.load_dataset(root).splits["train"]
        figures["photos drawn in s"] = round(time.perf_counter() - started, 1)
        for name in args.models:
            for batch_size in args.batch_sizes:
                for mixed in (False, True):
                    label = f"{name} batch {batch_size}{' mixed precision' if mixed else ''}"
                    figures[label] = measure(name, photos, mixed, gpu, batch_size, args)
                    print(label, figures[label], flush=True)
    report(f"Training throughput: {args.photos} drawn photos, {args.epochs} epochs per setting", figures)


if __name__ == "__main__":
    main()
