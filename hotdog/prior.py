"""The robust `transfer` recipe: the trained head's verdict combined with ImageNet's own, zero-shot "hot dog".

A head trained on a class's photos learns what tells their hotdogs from their other photos; on a photo unlike all of
them (a face, when every "nohotdog" was a dish) it can say anything. ImageNet's 1000-class classifier, reading the
same backbone features, knows that a face is not a hot dog. The saved model adds the two logits (output-space
ensembling, the idea of WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022):

    P(hotdog) = sigmoid(alpha * head logit + (1 - alpha) * (scale * log P_ImageNet(hot dog) + bias))

`scale` and `bias` make ImageNet's log-probability a calibrated logit. They are constants of each backbone
(`PRIOR_CALIBRATION`), fitted once on food101-hotdog train+validation like the zero-shot threshold, so that a
handful of a class's photos can never move ImageNet's own threshold. `alpha` is chosen on the training photos only,
by cross-validation over train+validation: heads trained with the run's own recipe on k-1 folds score the k-th, and
the smallest `alpha` on a grid whose cross-validated log loss is within one standard error of the best one is kept
(the one-standard-error rule). So the model moves away from the zero-shot verdict only as far as the photos give
evidence for: a little for a handful of dishes, all the way to the head alone for drawings that ImageNet cannot
read. When the rule keeps `alpha` = 0 (no evidence that the head helps), the run's model is the `imagenet`
zero-shot model itself (at the run's image size).

The `imagenet` model (`build_imagenet`) is ImageNet's verdict alone, the same calibrated logit on EfficientNet-Lite0:
P(hotdog) = sigmoid(scale * log P_ImageNet(hot dog) + bias).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import keras
import numpy as np

from hotdog import pretrained, transfer
from hotdog.recipe import class_weights, compile_model

#: Mixing weights tried: from ImageNet's verdict alone (0) to the trained head alone (1).
ALPHAS = np.round(np.linspace(0.0, 1.0, 21), 2)
MAX_FOLDS = 5
#: The saved model is photo -> BACKBONE -> ROBUST_HEAD; inside ROBUST_HEAD, the features go to the trained head's
#: logit and to ImageNet's log probabilities, whose "hot dog" one is mixed with it.
ROBUST_HEAD, HEAD_LOGIT, IMAGENET, HOTDOG_LOG_P = "robust_head", "head_logit", "imagenet", "hotdog_log_p"
MIX = "p_hotdog"
#: Per backbone, (scale, bias) such that scale * log P_ImageNet(hot dog) + bias is a calibrated logit: a
#: class-balanced logistic regression on food101-hotdog train+validation (`python -m bench.robust_recipe` prints it).
PRIOR_CALIBRATION = {"lite0": (1.0165, 2.0890), "lite2": (1.0853, 2.2926)}
#: The `imagenet` zero-shot model reads the smallest network's verdict, so it answers as fast as possible.
ZERO_SHOT_BACKBONE = "lite0"
#: The zero-shot model's name, which its saved copies keep.
ZERO_SHOT_NAME = "imagenet_hotdog"


@dataclass(frozen=True)
class Mix:
    """How much of the head is mixed into the prior, and the cross-validation that chose it."""

    alpha: float
    folds: int
    #: Cross-validated class-balanced log loss of the chosen mix, of the best one, and that one's standard error.
    cv_log_loss: float
    best_cv_log_loss: float
    standard_error: float

    @classmethod
    def scored(cls, alpha: float, losses: np.ndarray, folds: int) -> Mix:
        """The mix with weight `alpha` and the per-photo cross-validated log losses it scored."""
        return cls(alpha=alpha, folds=folds, cv_log_loss=float(losses.mean()), best_cv_log_loss=float("nan"),
                   standard_error=float(losses.std(ddof=1) / np.sqrt(len(losses))))

    def to_dict(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


def hotdog_log_prob(features: np.ndarray, backbone: str) -> np.ndarray:
    """log P(hot dog) among all 1000 ImageNet classes, from a backbone's pooled features."""
    kernel, bias = pretrained.imagenet_classifier_weights(backbone)
    logits = np.asarray(features, dtype=np.float64) @ kernel + bias
    top = logits.max(axis=1, keepdims=True)
    log_total = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return logits[:, pretrained.HOTDOG_CLASS] - log_total


def prior_logits(features: np.ndarray, backbone: str) -> np.ndarray:
    """ImageNet's verdict as a calibrated logit, scale * log P(hot dog) + bias (`PRIOR_CALIBRATION`)."""
    scale, bias = PRIOR_CALIBRATION[backbone]
    return scale * hotdog_log_prob(features, backbone) + bias


def stratified_folds(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """Indices held out by each fold: every class spread evenly, as many folds as the rarer class allows (<= 5)."""
    labels = np.asarray(labels)
    folds = min(MAX_FOLDS, int(min(np.sum(labels == 0), np.sum(labels == 1))))
    if folds < 2:
        raise ValueError("combining with the ImageNet prior needs at least 2 photos of each class")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == label)) for label in (1, 0)])
    return [np.sort(order[fold::folds]) for fold in range(folds)]


def head_logits(head: keras.Model, features: np.ndarray) -> np.ndarray:
    """The head's logit (before its sigmoid) for each photo's features."""
    kernel, bias = head.get_layer(transfer.HEAD_OUTPUT).get_weights()
    return np.asarray(features, dtype=np.float64) @ kernel[:, 0] + bias[0]


def out_of_fold_logits(features: np.ndarray, labels: np.ndarray, epochs: int, learning_rate: float,
                       batch_size: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Each photo's head logit from a head trained, with the run's recipe, on the other folds; and the folds."""
    folds = stratified_folds(labels, seed)
    logits = np.zeros(len(labels))
    for held in folds:
        kept = np.setdiff1d(np.arange(len(labels)), held)
        keras.utils.set_random_seed(seed)
        head = transfer.new_head(features.shape[1])
        compile_model(head, learning_rate, steps_per_execution=64)  # no charts to feed: fewer calls, same training
        head.fit(transfer.feature_dataset(features[kept], labels[kept], batch_size, True, seed), epochs=epochs,
                 class_weight=class_weights(labels[kept]), verbose=0)
        logits[held] = head_logits(head, features[held])
    return logits, len(folds)


def photo_weights(labels: np.ndarray) -> np.ndarray:
    """Each photo's class weight (`recipe.class_weights`): both classes count the same in a loss."""
    weights = class_weights(labels)
    return np.where(labels > 0, weights.get(1, 0.0), weights.get(0, 0.0))


def balanced_log_loss(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-photo log loss of sigmoid(scores), class-weighted."""
    return photo_weights(labels) * np.where(labels > 0, np.logaddexp(0, -scores), np.logaddexp(0, scores))


def mix_curve(head: np.ndarray, prior: np.ndarray, labels: np.ndarray, folds: int) -> list[Mix]:
    """For each alpha in ALPHAS: the mix and its cross-validated log loss.

    `head` holds out-of-fold head logits, `prior` the photos' calibrated prior logits (`prior_logits`), `labels` 1
    for hotdog.
    """
    labels = np.asarray(labels, dtype=np.float64)
    return [Mix.scored(float(alpha), balanced_log_loss(alpha * head + (1 - alpha) * prior, labels), folds)
            for alpha in ALPHAS]


def one_standard_error(curve: list[Mix]) -> Mix:
    """The first mix of `curve` (the nearest ImageNet's verdict) whose cross-validated log loss is within one
    standard error of the best one's. Its `best_cv_log_loss` and `standard_error` are those of the best mix, the bar
    it was measured against."""
    best = min(curve, key=lambda mix: mix.cv_log_loss)
    chosen = next(mix for mix in curve if mix.cv_log_loss <= best.cv_log_loss + best.standard_error)
    return replace(chosen, best_cv_log_loss=best.cv_log_loss, standard_error=best.standard_error)


def choose_mix(head: np.ndarray, prior: np.ndarray, labels: np.ndarray, folds: int) -> Mix:
    """The smallest alpha within one standard error of the best cross-validated log loss."""
    return one_standard_error(mix_curve(head, prior, labels, folds))


def robust_model(model: keras.Model, mix: Mix, backbone: str) -> keras.Model:
    """One self-contained model: photo -> backbone -> robust head -> P(hotdog), the robust head being
    features -> (trained head's logit, ImageNet's log P(hot dog)) -> mix.

    Built-in layers only (it loads with safe_mode=True); the prior's calibration is folded into the mixing layer's
    weights and bias, so 0.5 is the decision boundary like for every other model.
    """
    prior_scale, prior_bias = PRIOR_CALIBRATION[backbone]
    head = model.get_layer(transfer.HEAD).get_layer(transfer.HEAD_OUTPUT).get_weights()
    features = keras.Input((pretrained.FEATURES,), name="features")
    head_logit = _frozen_dense(features, HEAD_LOGIT, head)
    logits = keras.layers.Concatenate(name="logits")([head_logit, _hotdog_log_p(features, backbone)])
    mixed = [[[mix.alpha], [(1 - mix.alpha) * prior_scale]], [(1 - mix.alpha) * prior_bias]]
    robust_head = keras.Model(features, _frozen_dense(logits, MIX, mixed, activation="sigmoid"), name=ROBUST_HEAD)
    images = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(images, robust_head(model.get_layer(transfer.BACKBONE)(images)),
                       name=f"{model.name}_with_imagenet_prior")


def build_imagenet(image_size: int = pretrained.IMAGE_SIZE, augment: bool = False) -> keras.Model:
    """The `imagenet` model, no training: photo -> EfficientNet-Lite0 -> ImageNet's log P(hot dog) among all 1000
    classes -> sigmoid(scale * log P + bias) (`PRIOR_CALIBRATION`). Built-in layers only, like a robust model with
    alpha = 0. `augment` is what the registry passes every builder: with nothing to train it changes nothing."""
    backbone = pretrained.load_efficientnet_lite(ZERO_SHOT_BACKBONE, include_top=False, image_size=image_size)
    scale, bias = PRIOR_CALIBRATION[ZERO_SHOT_BACKBONE]
    p_hotdog = _frozen_dense(_hotdog_log_p(backbone.output, ZERO_SHOT_BACKBONE), MIX, [[[scale]], [bias]],
                             activation="sigmoid")
    return keras.Model(backbone.input, p_hotdog, name=ZERO_SHOT_NAME)


def _hotdog_log_p(features, backbone: str):
    """Pooled features -> ImageNet's log P(hot dog) among all 1000 classes, as two frozen Dense layers."""
    kernel, bias = pretrained.imagenet_classifier_weights(backbone)
    pick = np.zeros((kernel.shape[1], 1))
    pick[pretrained.HOTDOG_CLASS] = 1.0
    log_p = _frozen_dense(features, IMAGENET, [kernel, bias], activation="log_softmax")
    return _frozen_dense(log_p, HOTDOG_LOG_P, [pick], use_bias=False)


def _frozen_dense(inputs, name: str, weights: list, **options):
    """A Dense layer with given weights, frozen, in float32 also under mixed precision (log-probabilities of rare
    classes need its range)."""
    kernel = np.asarray(weights[0], dtype="float32")
    layer = keras.layers.Dense(kernel.shape[1], name=name, dtype="float32", trainable=False, **options)
    outputs = layer(inputs)
    layer.set_weights([np.asarray(w, dtype="float32") for w in weights])
    return outputs


def head_alone(model: keras.Model) -> keras.Model:
    """Features -> P(hotdog) of a robust model's trained head alone, without ImageNet's verdict: what the mix
    changes. `model.get_layer(ROBUST_HEAD)` gives the robust model's own verdict on the same features."""
    robust_head = model.get_layer(ROBUST_HEAD)
    alone = keras.layers.Activation("sigmoid", name="p_head_alone")(robust_head.get_layer(HEAD_LOGIT).output)
    return keras.Model(robust_head.input, alone, name="head_alone")


def is_combined(model: keras.Model) -> bool:
    """Whether `model` is what `combine` returns (a run resumed after it combined): a robust model, or the
    zero-shot model kept instead."""
    return model.name == ZERO_SHOT_NAME or any(layer.name == ROBUST_HEAD for layer in model.layers)


def combine(model: keras.Model, photos: list, backbone: str, epochs: int, learning_rate: float, batch_size: int,
            seed: int = 0) -> tuple[keras.Model, Mix]:
    """The model to save and its mix, for a trained transfer `model` and its train and validation photos (Decoded):
    the robust model, or the `imagenet` zero-shot model when the mix keeps nothing of the head (alpha = 0)."""
    features = np.concatenate([transfer.backbone_features(model, decoded, batch_size) for decoded in photos])
    labels = np.concatenate([decoded.labels for decoded in photos])
    head, folds = out_of_fold_logits(features, labels, epochs, learning_rate, batch_size, seed)
    mix = choose_mix(head, prior_logits(features, backbone), labels, folds)
    if mix.alpha == 0:
        return build_imagenet(model.input_shape[1]), mix  # at the run's image size
    return robust_model(model, mix, backbone), mix
