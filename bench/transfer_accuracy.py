"""The pretrained models on two sets of real photos: food101-hotdog test (dishes) and shift-dtu (anything).

    python -m bench.transfer_accuracy [--models imagenet transfer transfer-lite0] [--seeds 0 1 2]
    python -m bench.transfer_accuracy --photos-per-class 15 --draws 5
    python -m bench.transfer_accuracy --models transfer --fine-tune-epochs 2

Trainable models train through the product's own path (`hotdog.training`, as `python -m hotdog train`) on
food101-hotdog's train split (validation drawn in the charts), and the mix with ImageNet's own verdict is chosen by
cross-validation on train+validation. Nothing is chosen on the scored photos: food101-hotdog's test split and
shift-dtu (hot dogs against pets, people, furniture and food; never trained on). Each robust model is also scored
without ImageNet's verdict (its trained head alone), which is what the mix buys.

`--photos-per-class N --draws D` trains the default recipe on N photos per class drawn from the train split (draw
d uses seed d), as a class with a camera would, and prints the mean and spread over the draws.

Scoring: each saved model (loaded as `Classifier.load` loads it) runs on the photos decoded as `Classifier.predict`
decodes them. Its backbone is frozen and the same for every run, so its features are computed once per photo set
and cached; each run's own head then scores them (checked against `Classifier.predict` on a few photos).
Times: the first training reads an empty cache (weights conversion, decoding, features) unless HOTDOG_CACHE_DIR
points at a filled one; later ones find the features cached: `train_s_features_cached` is the time to train on the
498 photos once their features are cached.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import SHARED_DATA as FOOD101
from bench.common import SHIFT_DATA as SHIFT


def photo_sets(image_size: int) -> dict:
    """The two scored sets, decoded at `image_size` (cached by content)."""
    from hotdog import data

    return {"food101_test": data.decode(data.load_labelled(FOOD101, "test")[1], image_size),
            "shift_dtu": data.decode(data.load_labelled(SHIFT)[1], image_size)}


def balanced_accuracy(labels, scores) -> float:
    from hotdog.evaluate import binary_metrics

    return round(binary_metrics(labels, scores)["balanced_accuracy"], 4)


class Scorer:
    """Balanced accuracy of saved models on both sets, from their backbone's cached features."""

    def __init__(self) -> None:
        self.sets: dict[int, dict] = {}
        self.checked = False

    def score(self, model_path: Path) -> dict:
        import keras
        import numpy as np

        from hotdog import prior, transfer
        from hotdog.predict import Classifier

        classifier = Classifier.load(model_path)
        model = classifier.model
        sets = self.sets.setdefault(classifier.image_size, photo_sets(classifier.image_size))
        result = {}
        for name, photos in sets.items():
            if prior.ROBUST_HEAD not in [layer.name for layer in model.layers]:
                result[name] = balanced_accuracy(photos.labels, classifier.predict_proba(photos.images))
                continue  # the zero-shot model, kept when the mix found no evidence for the head
            features = transfer.backbone_features(model, photos)
            robust = model.get_layer(prior.ROBUST_HEAD).predict(features, verbose=0)[:, 0]
            alone = prior.head_alone(model).predict(features, verbose=0)[:, 0]
            result[name] = balanced_accuracy(photos.labels, robust)
            result[f"{name}_head_alone"] = balanced_accuracy(photos.labels, alone)
            if not self.checked:  # the shortcut gives what a user gets
                few = [0, 1, len(photos.labels) - 2, len(photos.labels) - 1]
                direct = [verdict.p_hotdog for verdict in classifier.predict([photos.paths[i] for i in few])]
                np.testing.assert_allclose(direct, robust[few], atol=1e-4)
                self.checked = True
        keras.backend.clear_session()
        return result


def zero_shot() -> dict:
    """The `imagenet` model (no training) on both sets, through `Classifier.predict`: balanced accuracy, and the
    recall of each class (hot dogs found, other photos left alone)."""
    from hotdog import pretrained
    from hotdog.evaluate import binary_metrics
    from hotdog.predict import Classifier

    classifier = Classifier.load("imagenet")
    result = {}
    for name, photos in photo_sets(pretrained.IMAGE_SIZE).items():
        metrics = binary_metrics(photos.labels, classifier.predict_proba(photos.images))
        result[name] = round(metrics["balanced_accuracy"], 4)
        result[f"{name}_recall"] = round(metrics["recall"], 3)
        result[f"{name}_specificity"] = round(metrics["specificity"], 3)
    return result


def train(data: Path, model: str, seed: int, fine_tune_epochs: int = 0) -> tuple:
    from hotdog import training

    start = time.perf_counter()
    run = training.new_run(training.TrainConfig(data=str(data), model=model, seed=seed, name=f"bench-{seed}",
                                                fine_tune_epochs=fine_tune_epochs))
    training.train(run, verbose=0)
    if run.state != "completed":
        raise SystemExit(f"training {run.state}: {run.status.get('error')}")
    return run, round(time.perf_counter() - start, 1)


def full_data(models: list[str], seeds: list[int], fine_tune_epochs: int) -> dict:
    scorer, results = Scorer(), {}
    for model in models:
        if model == "imagenet":
            results[model] = zero_shot()
            continue
        rows = []
        for seed in seeds:
            run, seconds = train(FOOD101, model, seed, fine_tune_epochs)
            row = {"seed": seed, **scorer.score(run.model_path), "imagenet_prior": run.status["imagenet_prior"],
                   "best_epoch": run.status.get("best_epoch"), "train_s": seconds}
            print(model, json.dumps(row), flush=True)
            rows.append(row)
        if len(seeds) == 1:  # a second training of the same photos: features cached, the 90 s figure
            rows[0]["train_s_features_cached"] = train(FOOD101, model, seeds[0])[1]
        results[model] = {"runs": rows, **summarize(rows)}
    return results


def summarize(rows: list[dict]) -> dict:
    """Mean, standard deviation and minimum over runs of every balanced accuracy; a head-alone figure counts only
    the runs that kept a head."""
    keys = sorted({key for row in rows for key in row if key.startswith(("food101", "shift"))})
    summary = {}
    for key in keys:
        values = [row[key] for row in rows if key in row]
        summary[key] = {"mean": round(statistics.mean(values), 4), "min": min(values),
                        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}
    summary["alpha"] = [row["imagenet_prior"]["alpha"] for row in rows]
    return summary


def few_photos(per_class: int, draws: int, model: str, scratch: Path) -> dict:
    """The recipe trained on `per_class` photos per class drawn from the train split, once per draw."""
    scorer, rows = Scorer(), []
    for draw in range(draws):
        root = scratch / f"draw-{draw}"
        for label in ("hotdog", "nohotdog"):
            folder = root / "train" / label
            folder.mkdir(parents=True)
            for photo in random.Random(draw).sample(sorted((FOOD101 / "train" / label).iterdir()), per_class):
                (folder / photo.name).symlink_to(photo)
        run, seconds = train(root, model, 0)
        row = {"draw": draw, **scorer.score(run.model_path), "imagenet_prior": run.status["imagenet_prior"],
               "train_s": seconds}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"model": model, "photos_per_class": per_class, "draws": draws, "runs": rows, **summarize(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["imagenet", "transfer", "transfer-lite0"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--photos-per-class", type=int, help="train on this many photos per class, drawn")
    parser.add_argument("--draws", type=int, default=5, help="with --photos-per-class: how many draws")
    parser.add_argument("--fine-tune-epochs", type=int, default=0, help="then fine-tune the backbone's top")
    args = parser.parse_args()
    if not (FOOD101 / "test").is_dir() or not SHIFT.is_dir():
        raise SystemExit(f"the real photos are not at {FOOD101} and {SHIFT}; this benchmark needs them")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-") as scratch:
        # Empty unless HOTDOG_CACHE_DIR is set: then the first run's time includes conversion, decoding, features.
        os.environ.setdefault("HOTDOG_CACHE_DIR", str(Path(scratch) / "cache"))
        os.environ["HOTDOG_RUNS_DIR"] = str(Path(scratch) / "runs")
        if args.photos_per_class:
            result = {"imagenet": zero_shot(),
                      "few_photos": few_photos(args.photos_per_class, args.draws, "transfer", Path(scratch))}
        else:
            result = full_data(args.models, args.seeds, args.fine_tune_epochs)
    result["cpu_count"], result["load_average"] = os.cpu_count(), round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
