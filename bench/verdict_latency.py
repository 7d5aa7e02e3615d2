"""Verdict latency: one uploaded photo through `Classifier.predict` (decode, resize, model), warm,
against calling Keras' `model.predict` per photo; and photos/s for a batch of 64 uploads.

    python -m bench.verdict_latency [--repeats 50] [--models seed imagenet transfer transfer-lite0]

`seed` is the blog post's network (untrained weights: latency does not depend on them), saved and loaded back
as a .keras file like a run's model; `imagenet` is the pretrained EfficientNet-Lite0 zero-shot model; `transfer`
and `transfer-lite0` are the robust transfer models as a run saves them (an untrained head combined with
ImageNet's verdict, `hotdog.prior.robust_model`). The photos are the shared test photos, read as bytes, as an
upload arrives.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import report, shared_data_or_exit  # noqa: E402

TARGET_MS = {"seed": 10, "imagenet": 50, "transfer": 120, "transfer-lite0": 120}


def load_classifier(name: str, folder: Path):
    from hotdog.models import build_model, get_spec
    from hotdog.predict import Classifier

    if name == "imagenet":
        return Classifier.load("imagenet")
    path = folder / f"{name}.keras"
    model = build_model(name)
    if get_spec(name).imagenet_prior:
        from hotdog import prior

        mix = prior.Mix(alpha=0.5, folds=5, cv_log_loss=0.0, best_cv_log_loss=0.0, standard_error=0.0)
        model = prior.robust_model(model, mix, get_spec(name).imagenet_prior)
    model.save(path)
    return Classifier.load(path)


class Timings:
    """Wall milliseconds per call, and this process's CPU milliseconds per call (all threads): on a machine that
    others load, the CPU time tells what the call costs, the wall time what a user waited this time."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, call) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        self.wall.append((time.perf_counter() - wall) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)

    def __str__(self) -> str:
        ordered = sorted(self.wall)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        return (f"wall p50 {statistics.median(ordered):.1f} ms, p90 {p90:.1f} ms; "
                f"CPU p50 {statistics.median(self.cpu):.1f} ms; n={len(ordered)}")


def measure(name: str, uploads: list[bytes], repeats: int, folder: Path) -> dict:
    import numpy as np

    from hotdog import images

    classifier = load_classifier(name, folder)
    photos = iter(uploads * (repeats // len(uploads) + 2))
    one = lambda: classifier.predict(next(photos))  # noqa: E731
    keras_predict = lambda: classifier.model.predict(  # noqa: E731
        np.expand_dims(images.load_array(next(photos), classifier.image_size).astype(np.float32), 0), verbose=0)
    batch = uploads[:64]
    for warm_up in (one, keras_predict, lambda: classifier.predict(batch)):
        warm_up()
        warm_up()
    ours, theirs, batches = Timings(), Timings(), Timings()
    for _ in range(repeats):  # interleaved, so both see the same machine load
        ours.time(one)
        theirs.time(keras_predict)
    for _ in range(max(3, repeats // 10)):
        batches.time(lambda: classifier.predict(batch))
    p50 = statistics.median(ours.wall)
    return {f"{name}: Classifier.predict, one photo": str(ours),
            f"{name}: decode + model.predict, one photo": str(theirs),
            f"{name}: model.predict / Classifier.predict (wall p50)": f"{statistics.median(theirs.wall) / p50:.1f}x",
            f"{name}: batch of {len(batch)} uploads": f"{len(batch) / (statistics.median(batches.wall) / 1000):.0f} "
                                                      f"photos/s ({batches})",
            f"{name}: target p50 <= {TARGET_MS[name]} ms": "met" if p50 <= TARGET_MS[name] else
            f"missed by {p50 - TARGET_MS[name]:.1f} ms (wall)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--models", nargs="+", default=list(TARGET_MS), choices=list(TARGET_MS))
    args = parser.parse_args()
    test = shared_data_or_exit() / "test"
    uploads = [path.read_bytes() for label in ("hotdog", "nohotdog") for path in sorted((test / label).iterdir())[:32]]
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            figures.update(measure(name, uploads, args.repeats, Path(folder)))
    report("verdict latency, warm, photos as uploaded bytes (shared test photos)", figures)


if __name__ == "__main__":
    main()
