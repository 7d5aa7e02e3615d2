"""Exports against the Keras model they came from, on real test photos: file size, largest |P(hotdog) difference|
and verdicts that agree, per format.

    python -m bench.export_agreement [--photos 100] [--models transfer imagenet]

`transfer` is trained first with its default recipe on the shared train split (validation picks the best epoch),
in a temporary runs folder; `imagenet` is the zero-shot model, its int8 file calibrated on the same train split.
Every export goes through `hotdog.export` as `python -m hotdog export` does, and is read back by its own runtime
(Keras, `tf.lite.Interpreter`, `tf.saved_model`). The photos are the first N/2 of each class of the test split,
never seen in training or calibration. Figures here do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import report, shared_data_or_exit  # noqa: E402

MODELS = ("transfer", "imagenet")


def classifier_and_dataset(name: str, data: Path, folder: Path):
    from hotdog import export, training
    from hotdog.predict import Classifier

    if name == "imagenet":
        return Classifier.load("imagenet"), (data, 0)
    run = training.new_run(training.TrainConfig(data=str(data), model=name), folder / "runs")
    training.train(run, verbose=0)
    return Classifier.load(run.path), export.run_dataset(run)


def measure(name: str, data: Path, count: int, folder: Path) -> dict:
    import numpy as np

    from hotdog import export, images

    classifier, dataset = classifier_and_dataset(name, data, folder)
    test = data / "test"
    photos = np.stack([images.load_array(path, classifier.image_size) for label in ("hotdog", "nohotdog")
                       for path in sorted((test / label).iterdir())[: count // 2]])
    figures = {}
    for fmt in export.FORMATS:
        path, _ = export.export(classifier, fmt, folder / export.file_name(name, fmt), dataset)
        check = export.agreement(classifier.predict_proba, export.load_export(path), photos)
        figures[f"{name} {fmt}"] = (f"{path.stat().st_size / 1e6:.1f} MB; max |dP| {check.max_difference:.4f}; "
                                    f"{check.same_verdicts}/{check.photos} verdicts the same")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100, help="test photos, half of each class")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    data = shared_data_or_exit()
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HOTDOG_RUNS_DIR"] = str(Path(folder) / "runs")
        for name in args.models:
            figures.update(measure(name, data, args.photos, Path(folder)))
    report(f"exports against their Keras model, {args.photos} real test photos", figures)


if __name__ == "__main__":
    main()
