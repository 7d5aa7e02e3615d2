"""How the robust transfer recipe was chosen: ways to combine the trained head with ImageNet's verdict, side by side.

    python -m bench.robust_recipe [--backbone lite0] [--seeds 0 1 2] [--epochs 40] [--head-l2 0.003]
    python -m bench.robust_recipe --photos-per-class 15 --draws 5

On one backbone's cached features of food101-hotdog, for each seed: heads trained with the `transfer` recipe
(`hotdog.prior.out_of_fold_logits`: 5-fold cross-validation over train+validation; and one head on train), then
each rule picks the mix from the cross-validated logits only (`hotdog.prior.mix_curve`). Every rule is scored on
food101-hotdog test and on shift-dtu, which no rule reads:

- head alone (alpha = 1); ImageNet's calibrated log P(hot dog) alone (alpha = 0: the `imagenet` model's rule, on
  this backbone's features);
- the one-standard-error rule (the product's `hotdog.prior.choose_mix`; where it keeps alpha = 0 the product saves
  the `imagenet` model, on Lite0, and this script scores the prior alone on its own backbone);
- the lowest cross-validated log loss; alpha = 0.5 (WiSE-FT's default);
- the one-standard-error rule with the prior's scale and bias refitted on the class's own photos for each alpha,
  instead of the fixed `hotdog.prior.PRIOR_CALIBRATION` (which this script prints: the same regression on
  train+validation, ImageNet's log P(hot dog) alone).

`--epochs` changes how long the heads train, `--head-l2` the L2 penalty on their weights. `cv_log_loss` is the
mean cross-validated log loss over the seeds of the head alone, of the lowest-loss mix and of the product's mix: it
reads train+validation only, so recipes are compared by it without looking at the scored sets.

`--photos-per-class N --draws D` replaces train+validation by N photos per class drawn from the train split (draw d
draws with seed d, as `bench.transfer_accuracy` does), which both train the head and choose the mix.

Also the zero-shot rules for the `imagenet` model: "hot dog" is ImageNet's top-1 class, or P(hot dog) in a softmax
over all 1000 classes or over ImageNet's food classes at temperatures 1, 0.5 and 0.25, above the threshold with the
best balanced accuracy on train+validation; and the `imagenet` model's own rule, log P(hot dog) over all 1000
classes with the calibration above (its threshold is the calibrated 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics

import numpy as np

from bench.common import SHARED_DATA as FOOD101
from bench.common import SHIFT_DATA as SHIFT
from hotdog.models import get_spec

#: ImageNet's block of food and dish classes (plate, guacamole ... pizza, burrito ... eggnog), for the zero-shot rules
#: that ask "which of these foods is it?".
FOOD_CLASSES = range(923, 970)
#: The product's recipe, whose heads every rule mixes: epochs, learning rate, batch size.
RECIPE = get_spec("transfer")
SETS = ("train", "validation", "test", "shift")


def features(backbone: str) -> dict:
    """(features, labels) of train, validation, test and shift-dtu."""
    from hotdog import data, pretrained, transfer

    extractor = transfer.build_efficientnet_lite(pretrained.VARIANTS[backbone].image_size, False, backbone)
    dataset = data.load_dataset(FOOD101)
    sets = {split: dataset.splits[split] for split in ("train", "validation", "test")}
    sets["shift"] = data.load_labelled(SHIFT)[1]
    result = {}
    for name, examples in sets.items():
        photos = data.decode(examples, pretrained.VARIANTS[backbone].image_size)
        result[name] = (transfer.backbone_features(extractor, photos), photos.labels)
    result["train_paths"] = [str(example.path) for example in sets["train"]]
    return result


def zero_shot_rules(sets: dict, backbone: str) -> dict:
    """Balanced accuracy of each zero-shot rule on train+validation (where its threshold is chosen), test and
    shift-dtu."""
    from hotdog import pretrained, prior

    kernel, bias = pretrained.imagenet_classifier_weights(backbone)
    foods, everything = list(FOOD_CLASSES), list(range(kernel.shape[1]))

    def top1(logits: np.ndarray) -> np.ndarray:
        return np.where(logits.argmax(1) == pretrained.HOTDOG_CLASS, 1.0, -1.0)

    rules = {"hot dog is the top-1 class": top1}
    for temperature in (1.0, 0.5, 0.25):
        rules[f"all 1000 classes, T={temperature}"] = lambda x, t=temperature: hotdog_logit(x, t, everything)
    for temperature in (1.0, 0.5, 0.25):
        rules[f"food classes, T={temperature}"] = lambda x, t=temperature: hotdog_logit(x, t, foods)
    logits = {name: sets[name][0] @ kernel + bias for name in SETS}
    calibrated = {name: prior.prior_logits(sets[name][0], backbone) for name in SETS}
    logits["train+validation"] = np.concatenate([logits["train"], logits["validation"]])
    labels = {name: sets[name][1] for name in SETS}
    labels["train+validation"] = np.concatenate([labels["train"], labels["validation"]])
    result = {}
    for rule, score in rules.items():
        threshold = 0.0 if rule.startswith("hot dog is") else best_threshold(score(logits["train+validation"]),
                                                                             labels["train+validation"])
        result[rule] = {"P threshold": round(float(1 / (1 + np.exp(-threshold))), 3)}
        result[rule].update({name: round(balanced_accuracy(labels[name], score(logits[name]) - threshold), 3)
                             for name in ("train+validation", "test", "shift")})
    calibrated["train+validation"] = np.concatenate([calibrated["train"], calibrated["validation"]])
    result["all 1000 classes, calibrated (the imagenet model's rule)"] = {
        "P threshold": "calibrated", **{name: round(balanced_accuracy(labels[name], calibrated[name]), 3)
                                        for name in ("train+validation", "test", "shift")}}
    return result


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The midpoint threshold with the best balanced accuracy (the middle one of equally good ones)."""
    ordered = np.unique(scores)
    candidates = (ordered[1:] + ordered[:-1]) / 2
    accuracies = np.array([balanced_accuracy(labels, scores - t) for t in candidates])
    best = np.flatnonzero(accuracies == accuracies.max())
    return float(candidates[best[len(best) // 2]])


def balanced_accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    from hotdog.evaluate import binary_metrics

    return binary_metrics(labels, 1 / (1 + np.exp(-logits)))["balanced_accuracy"]


def rules_for_seed(sets: dict, backbone: str, seed: int, epochs: int) -> dict:
    """Balanced accuracy on test and shift-dtu of every mixing rule, for heads trained `epochs` epochs with `seed`;
    and the cross-validated log loss of the head alone, of the best mix and of the product's."""
    import keras

    from hotdog import prior, transfer
    from hotdog.recipe import class_weights, compile_model

    train_features, train_labels = sets["train"]
    keras.utils.set_random_seed(seed)
    head = transfer.new_head(train_features.shape[1])
    compile_model(head, RECIPE.learning_rate, steps_per_execution=64)
    head.fit(transfer.feature_dataset(train_features, train_labels, RECIPE.batch_size, True, seed),
             epochs=epochs, class_weight=class_weights(train_labels), verbose=0)

    fit = [np.concatenate([sets[name][i] for name in ("train", "validation")]) for i in (0, 1)]
    cv_head, folds = prior.out_of_fold_logits(fit[0], fit[1], epochs, RECIPE.learning_rate, RECIPE.batch_size, seed)
    curve = prior.mix_curve(cv_head, prior.prior_logits(fit[0], backbone), fit[1], folds)
    refitted = refitted_mix(cv_head, prior.hotdog_log_prob(fit[0], backbone), fit[1])
    mixes = {"1-SE rule (the product)": prior.one_standard_error(curve),
             "lowest CV log loss": min(curve, key=lambda mix: mix.cv_log_loss),
             "alpha = 0.5": next(mix for mix in curve if mix.alpha == 0.5), "calibrated prior alone": curve[0]}
    result = {"cv_log_loss": {"head alone": curve[-1].cv_log_loss,
                              "lowest CV log loss": mixes["lowest CV log loss"].cv_log_loss,
                              "1-SE rule (the product)": mixes["1-SE rule (the product)"].cv_log_loss},
              "alpha": {**{label: mix.alpha for label, mix in mixes.items()},
                        "scale and bias refitted on the photos": refitted[0]}}
    for name in ("test", "shift"):
        plain, labels = sets[name]
        head_logit = prior.head_logits(head, plain)
        log_p, prior_logit = prior.hotdog_log_prob(plain, backbone), prior.prior_logits(plain, backbone)
        result[name] = {"head alone": balanced_accuracy(labels, head_logit)}
        for label, mix in mixes.items():
            result[name][label] = balanced_accuracy(labels, mix.alpha * head_logit + (1 - mix.alpha) * prior_logit)
        alpha, scale, bias = refitted
        refit = prior_logit if alpha == 0 else scale * (alpha * head_logit + (1 - alpha) * log_p) + bias
        result[name]["scale and bias refitted on the photos"] = balanced_accuracy(labels, refit)
    return result


def refitted_mix(head: np.ndarray, log_p: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """The alternative to fixed calibration: for each alpha, scale and bias of
    scale * (alpha * head + (1 - alpha) * log P) + bias fitted on the class's own out-of-fold logits, alpha by the
    one-standard-error rule. Returns (alpha, scale, bias)."""
    from hotdog import prior

    curve, fits = [], {}
    for alpha in prior.ALPHAS:
        combined = alpha * head + (1 - alpha) * log_p
        fits[float(alpha)] = fit_scale_and_bias(combined, labels)
        scale, bias = fits[float(alpha)]
        curve.append(prior.Mix.scored(float(alpha), prior.balanced_log_loss(scale * combined + bias, labels), 0))
    chosen = prior.one_standard_error(curve)
    return (chosen.alpha, *fits[chosen.alpha])


def hotdog_logit(logits: np.ndarray, temperature: float, classes: list[int]) -> np.ndarray:
    """logit of P(hot dog) in a softmax over `classes` of ImageNet's logits at `temperature`."""
    from hotdog import pretrained

    scaled = logits[:, classes] / temperature
    others = np.delete(scaled, classes.index(pretrained.HOTDOG_CLASS), axis=1)
    top = others.max(1, keepdims=True)
    return scaled[:, classes.index(pretrained.HOTDOG_CLASS)] - (top[:, 0] + np.log(np.exp(others - top).sum(1)))


def prior_calibration(sets: dict, backbone: str) -> tuple[float, float]:
    """`hotdog.prior.PRIOR_CALIBRATION` for `backbone`: scale and bias of log P(hot dog) on train+validation."""
    from hotdog import prior

    features = np.concatenate([sets["train"][0], sets["validation"][0]])
    labels = np.concatenate([sets["train"][1], sets["validation"][1]])
    return fit_scale_and_bias(prior.hotdog_log_prob(features, backbone), labels)


def fit_scale_and_bias(logits: np.ndarray, labels: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """Class-balanced logistic regression of the labels on one logit: (scale, bias), by damped Newton steps.

    A weak prior (scale 1 +- 1, bias 0 +- 10) keeps both finite when a few photos are perfectly separated; each step
    is halved until the penalized loss goes down, so logits far from calibrated (all below 0) converge too.
    """
    from hotdog import prior

    labels = np.asarray(labels, dtype=np.float64)
    inputs = np.stack([np.asarray(logits, dtype=np.float64), np.ones(len(labels))], axis=1)
    prior_mean, prior_precision = np.array([1.0, 0.0]), np.diag([1.0, 0.01])

    def loss(theta: np.ndarray) -> float:
        offset = theta - prior_mean
        return float(prior.balanced_log_loss(inputs @ theta, labels).sum() + offset @ prior_precision @ offset / 2)

    theta = prior_mean.copy()
    weights = prior.photo_weights(labels)
    for _ in range(iterations):
        p = np.exp(-np.logaddexp(0.0, -(inputs @ theta)))  # sigmoid, without overflow
        gradient = inputs.T @ (weights * (p - labels)) + prior_precision @ (theta - prior_mean)
        hessian = (inputs * (weights * p * (1 - p))[:, None]).T @ inputs + prior_precision
        step, current = np.linalg.solve(hessian, gradient), loss(theta)
        while loss(theta - step) > current and np.abs(step).max() > 1e-12:
            step = step / 2
        theta = theta - step
        if np.abs(step).max() < 1e-9:
            break
    return float(theta[0]), float(theta[1])



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="lite0", choices=["lite0", "lite1", "lite2"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=RECIPE.epochs,
                        help=f"epochs each head trains (default {RECIPE.epochs}, the product's)")
    parser.add_argument("--head-l2", type=float,
                        help="L2 penalty on each head's weights (default: the product's, hotdog.transfer.HEAD_L2)")
    parser.add_argument("--photos-per-class", type=int, help="heads and mixes from this many photos per class")
    parser.add_argument("--draws", type=int, default=5, help="with --photos-per-class: how many draws")
    args = parser.parse_args()
    if not (FOOD101 / "test").is_dir() or not SHIFT.is_dir():
        raise SystemExit(f"the real photos are not at {FOOD101} and {SHIFT}; this benchmark needs them")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hotdog import transfer

    if args.head_l2 is not None:
        transfer.HEAD_L2 = args.head_l2  # read by transfer.new_head, which builds every head here
    sets = features(args.backbone)
    if args.photos_per_class:  # draw d: photos drawn with seed d, heads trained with seed d
        runs = [rules_for_seed(drawn(sets, args.photos_per_class, draw), args.backbone, draw, args.epochs)
                for draw in range(args.draws)]
    else:
        runs = [rules_for_seed(sets, args.backbone, seed, args.epochs) for seed in args.seeds]
    summary = {}
    for name in ("test", "shift"):
        summary[name] = {rule: f"{statistics.mean(r[name][rule] for r in runs):.3f} "
                               f"(sd {statistics.pstdev(r[name][rule] for r in runs):.3f}, "
                               f"lowest {min(r[name][rule] for r in runs):.3f})" for rule in runs[0][name]}
    summary["alpha"] = {rule: [r["alpha"][rule] for r in runs] for rule in runs[0]["alpha"]}
    summary["cv_log_loss"] = {rule: round(statistics.mean(r["cv_log_loss"][rule] for r in runs), 4)
                              for rule in runs[0]["cv_log_loss"]}
    print(json.dumps({"backbone": args.backbone, "epochs": args.epochs, "head_l2": transfer.HEAD_L2,
                      "seeds": args.seeds,
                      "photos_per_class": args.photos_per_class, "draws": args.draws if args.photos_per_class else 0,
                      "prior_calibration": [round(value, 4) for value in prior_calibration(sets, args.backbone)],
                      "zero_shot": zero_shot_rules(sets, args.backbone), "mix_rules": summary}, indent=2))


def drawn(sets: dict, per_class: int, draw: int) -> dict:
    """`sets` with its training photos cut to `per_class` photos per class drawn from the train split (the draw of
    `bench.transfer_accuracy --photos-per-class`) and no validation photos."""
    chosen = {str(photo) for label in ("hotdog", "nohotdog")
              for photo in random.Random(draw).sample(sorted((FOOD101 / "train" / label).iterdir()), per_class)}
    keep = np.array([i for i, path in enumerate(sets["train_paths"]) if path in chosen])
    plain, labels = sets["train"]
    return {**sets, "train": (plain[keep], labels[keep]), "validation": (plain[:0], labels[:0])}


if __name__ == "__main__":
    main()
