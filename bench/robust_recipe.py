"""How the robust transfer recipe was chosen: ways to combine the trained head with ImageNet's verdict, side by side.

    python -m bench.robust_recipe [--backbone lite0] [--seeds 0 1 2] [--flip]

On one backbone's cached features of food101-hotdog, for each seed: heads trained with the `transfer` recipe for
its 40 epochs (`hotdog.prior.out_of_fold_logits`: 5-fold cross-validation over train+validation; and one head on
train), then each rule picks the mix from the cross-validated logits only (`hotdog.prior.mix_curve`). Every rule
is scored on food101-hotdog test and on shift-dtu, which no rule reads:

- head alone (alpha = 1), ImageNet alone (alpha = 0);
- the lowest cross-validated log loss;
- the one-standard-error rule (the product's `hotdog.prior.choose_mix`);
- alpha = 0.5 (WiSE-FT's default), scale and bias fitted.

Also the zero-shot rules for the `imagenet` model: "hot dog" is ImageNet's top-1 class, or P(hot dog) in a softmax
over all 1000 classes or over ImageNet's food classes at temperatures 1, 0.5 and 0.25, above a threshold chosen on
train+validation (the `imagenet` model is the food classes at T = 0.25). `--flip` also trains on horizontally
flipped copies and averages both at test time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import numpy as np

from bench.common import SHARED_DATA as FOOD101
from bench.common import SHIFT_DATA as SHIFT

EPOCHS = 40


def features(backbone: str, flip: bool) -> dict:
    """(features, flipped features or None, labels) of train, validation, test and shift-dtu."""
    from hotdog import data, pretrained, transfer

    extractor = transfer.build_efficientnet_lite(pretrained.VARIANTS[backbone].image_size, False, backbone)
    dataset = data.load_dataset(FOOD101)
    sets = {split: dataset.splits[split] for split in ("train", "validation", "test")}
    sets["shift"] = data.load_labelled(SHIFT)[1]
    result = {}
    for name, examples in sets.items():
        photos = data.decode(examples, pretrained.VARIANTS[backbone].image_size)
        flipped = None
        if flip:
            mirrored = np.ascontiguousarray(np.asarray(photos.images)[:, :, ::-1], dtype=np.float32)
            flipped = extractor.get_layer(transfer.BACKBONE).predict(mirrored, batch_size=32, verbose=0)
        result[name] = (transfer.backbone_features(extractor, photos), flipped, photos.labels)
    return result


def zero_shot_rules(sets: dict, backbone: str) -> dict:
    """Balanced accuracy of each zero-shot rule on train+validation (where its threshold is chosen), test and
    shift-dtu."""
    from hotdog import pretrained

    kernel, bias = pretrained.imagenet_classifier_weights(backbone)
    foods, everything = list(pretrained.FOOD_CLASSES), list(range(kernel.shape[1]))

    def hotdog_logit(logits: np.ndarray, temperature: float, classes: list[int]) -> np.ndarray:
        """logit of P(hot dog) in a softmax over `classes` at `temperature`."""
        scaled = logits[:, classes] / temperature
        others = np.delete(scaled, classes.index(pretrained.HOTDOG_CLASS), axis=1)
        top = others.max(1, keepdims=True)
        return scaled[:, classes.index(pretrained.HOTDOG_CLASS)] - (top[:, 0] + np.log(np.exp(others - top).sum(1)))

    def top1(logits: np.ndarray) -> np.ndarray:
        return np.where(logits.argmax(1) == pretrained.HOTDOG_CLASS, 1.0, -1.0)

    rules = {"hot dog is the top-1 class": top1}
    for temperature in (1.0, 0.5, 0.25):
        rules[f"all 1000 classes, T={temperature}"] = lambda x, t=temperature: hotdog_logit(x, t, everything)
    for temperature in (1.0, 0.5, 0.25):
        rules[f"food classes, T={temperature}"] = lambda x, t=temperature: hotdog_logit(x, t, foods)
    logits = {name: f @ kernel + bias for name, (f, _, _) in sets.items()}
    logits["train+validation"] = np.concatenate([logits["train"], logits["validation"]])
    labels = {name: y for name, (_, _, y) in sets.items()}
    labels["train+validation"] = np.concatenate([labels["train"], labels["validation"]])
    result = {}
    for rule, score in rules.items():
        threshold = 0.0 if rule.startswith("hot dog is") else best_threshold(score(logits["train+validation"]),
                                                                             labels["train+validation"])
        result[rule] = {"P threshold": round(float(1 / (1 + np.exp(-threshold))), 3)}
        result[rule].update({name: round(balanced_accuracy(labels[name], score(logits[name]) - threshold), 3)
                             for name in ("train+validation", "test", "shift")})
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


def rules_for_seed(sets: dict, backbone: str, seed: int, flip: bool) -> dict:
    """Balanced accuracy on test and shift-dtu of every mixing rule, for heads trained with `seed`."""
    import keras

    from hotdog import prior, transfer
    from hotdog.recipe import class_weights, compile_model

    def with_flips(name: str) -> tuple[np.ndarray, np.ndarray]:
        plain, flipped, labels = sets[name]
        return (np.concatenate([plain, flipped]), np.concatenate([labels, labels])) if flip else (plain, labels)

    def logits(head_logits: np.ndarray, name: str) -> np.ndarray:  # flipped copies follow the plain ones
        return (head_logits[:len(sets[name][2])] + head_logits[len(sets[name][2]):]) / 2 if flip else head_logits

    train_features, train_labels = with_flips("train")
    keras.utils.set_random_seed(seed)
    head = transfer.new_head(train_features.shape[1])
    compile_model(head, 3e-3, steps_per_execution=64)
    head.fit(transfer.feature_dataset(train_features, train_labels, 32, True, seed), epochs=EPOCHS,
             class_weight=class_weights(train_labels), verbose=0)

    fit = [np.concatenate([sets[name][i] for name in ("train", "validation")]) for i in (0, 2)]
    if flip:  # folds keep a photo and its mirror image together
        fit_flipped = np.concatenate([sets[name][1] for name in ("train", "validation")])
        cv_head, folds = cv_with_flips(fit[0], fit_flipped, fit[1], seed)
    else:
        cv_head, folds = prior.out_of_fold_logits(fit[0], fit[1], EPOCHS, 3e-3, 32, seed)
    cv_prior = prior.hotdog_log_prob(fit[0], backbone)
    curve = prior.mix_curve(cv_head, cv_prior, fit[1], folds)
    mixes = {"1-SE rule (the product)": prior.choose_mix(cv_head, cv_prior, fit[1], folds),
             "lowest CV log loss": min(curve, key=lambda mix: mix.cv_log_loss),
             "alpha = 0.5": next(mix for mix in curve if mix.alpha == 0.5),
             "ImageNet alone": curve[0]}
    result = {"alpha": {label: mix.alpha for label, mix in mixes.items()}}
    for name in ("test", "shift"):
        plain, flipped, labels = sets[name]
        head_logit = logits(prior.head_logits(head, np.concatenate([plain, flipped]) if flip else plain), name)
        log_p = prior.hotdog_log_prob(plain, backbone)
        result[name] = {"head alone": balanced_accuracy(labels, head_logit)}
        for label, mix in mixes.items():
            combined = mix.scale * (mix.alpha * head_logit + (1 - mix.alpha) * log_p) + mix.bias
            result[name][label] = balanced_accuracy(labels, combined)
    return result


def cv_with_flips(plain: np.ndarray, flipped: np.ndarray, labels: np.ndarray, seed: int):
    """Out-of-fold logits of heads trained on photos and their mirror images, averaged over both at test time."""
    import keras

    from hotdog import prior, transfer
    from hotdog.recipe import class_weights, compile_model

    folds = prior.stratified_folds(labels, seed)
    logits = np.zeros(len(labels))
    for held in folds:
        kept = np.setdiff1d(np.arange(len(labels)), held)
        keras.utils.set_random_seed(seed)
        head = transfer.new_head(plain.shape[1])
        compile_model(head, 3e-3, steps_per_execution=64)
        inputs, targets = np.concatenate([plain[kept], flipped[kept]]), np.concatenate([labels[kept]] * 2)
        head.fit(transfer.feature_dataset(inputs, targets, 32, True, seed), epochs=EPOCHS,
                 class_weight=class_weights(targets), verbose=0)
        logits[held] = (prior.head_logits(head, plain[held]) + prior.head_logits(head, flipped[held])) / 2
    return logits, len(folds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="lite0", choices=["lite0", "lite1", "lite2"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--flip", action="store_true", help="train on mirror images too, average both at test")
    args = parser.parse_args()
    if not (FOOD101 / "test").is_dir() or not SHIFT.is_dir():
        raise SystemExit(f"the real photos are not at {FOOD101} and {SHIFT}; this benchmark needs them")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sets = features(args.backbone, args.flip)
    runs = [rules_for_seed(sets, args.backbone, seed, args.flip) for seed in args.seeds]
    summary = {}
    for name in ("test", "shift"):
        summary[name] = {rule: f"{statistics.mean(r[name][rule] for r in runs):.3f} "
                               f"(sd {statistics.pstdev(r[name][rule] for r in runs):.3f})" for rule in runs[0][name]}
    summary["alpha"] = {rule: [r["alpha"][rule] for r in runs] for rule in runs[0]["alpha"]}
    print(json.dumps({"backbone": args.backbone, "flip": args.flip, "seeds": args.seeds,
                      "zero_shot": zero_shot_rules(sets, args.backbone), "mix_rules": summary}, indent=2))


if __name__ == "__main__":
    main()
