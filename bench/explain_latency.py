"""Grad-CAM cost against the verdict's: one uploaded photo, warm, per model kind.

    python -m bench.explain_latency [--repeats 30] [--models seed cnn transfer imagenet]

For each model: `Classifier.predict` on one photo (decode, resize, model), and "why did it say that?" on the same
photo as the Predict page draws it: `explain.explain` (decode, resize, model and gradient to the last feature map)
plus the heatmap blended over a 480-pixel thumbnail. Both are timed interleaved, after warm-up; the ratios of their
median wall and CPU times are the figures (target: both under 3x). The models are those of
`bench.verdict_latency.load_classifier`: untrained `seed` and `cnn` (cost does not depend on the weights) and the
robust `transfer` model as a run saves it, saved and loaded back as .keras files; `imagenet` is the zero-shot model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import report, shared_data_or_exit  # noqa: E402
from bench.verdict_latency import Timings, load_classifier  # noqa: E402

MODELS = ("seed", "cnn", "transfer", "imagenet")
TARGET_RATIO = 3.0
THUMBNAIL_PX = 480


def measure(name: str, uploads: list[bytes], repeats: int, folder: Path) -> dict:
    from hotdog import explain, images

    classifier = load_classifier(name, folder)
    photos = iter(uploads * (2 * repeats // len(uploads) + 4))

    def verdict() -> None:
        classifier.predict(next(photos))

    def why() -> None:
        photo = next(photos)
        explanation = explain.explain(classifier, photo)[0]
        thumbnail = images.load_rgb(photo, draft_size=THUMBNAIL_PX)
        thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        explain.overlay(thumbnail, explanation.heatmap)

    for warm_up in (verdict, why, verdict, why):
        warm_up()
    verdicts, explanations = Timings(), Timings()
    for _ in range(repeats):  # interleaved, so both see the same machine load
        verdicts.time(verdict)
        explanations.time(why)
    ratio = statistics.median(explanations.wall) / statistics.median(verdicts.wall)
    cpu_ratio = statistics.median(explanations.cpu) / statistics.median(verdicts.cpu)
    return {f"{name}: verdict, one photo": str(verdicts), f"{name}: Grad-CAM + overlay, one photo": str(explanations),
            f"{name}: Grad-CAM / verdict (p50)": f"{ratio:.2f}x wall, {cpu_ratio:.2f}x CPU",
            f"{name}: target under {TARGET_RATIO:g}x": "met" if max(ratio, cpu_ratio) < TARGET_RATIO else "missed"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    test = shared_data_or_exit() / "test"
    uploads = [path.read_bytes() for label in ("hotdog", "nohotdog") for path in sorted((test / label).iterdir())[:16]]
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            figures.update(measure(name, uploads, args.repeats, Path(folder)))
    report("Grad-CAM cost per photo against the verdict's, warm (shared test photos as uploaded bytes)", figures)


if __name__ == "__main__":
    main()
