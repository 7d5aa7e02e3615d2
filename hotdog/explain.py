"""Why did it say that? Grad-CAM heatmaps over a photo, for every model this project makes.

Grad-CAM (Selvaraju et al., ICCV 2017): the gradient of the verdict's logit with respect to the last convolutional
feature map, averaged over the map, weighs each of its channels; the weighted sum of the channels, through a ReLU,
is where the evidence for the verdict lies. Here:

- the feature map is found, not named: the last layer with a spatial (4-D) output that is not a pooling layer, at
  any depth of nested models (a pretrained backbone inside a transfer model);
- the model is rebuilt on its own layers (nothing copied, nothing retrained) so that one call returns P(hotdog),
  that feature map and the pre-activation the logit is read from;
- the logit is taken before the final sigmoid, so a verdict the model is sure of still has a gradient:
  P(hotdog) = 1.0 in float32 would have none.

`overlay` blends a heatmap over the photo with Pillow.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from PIL import Image

from hotdog.images import ImageSource, centre_box
from hotdog.predict import Classifier, Verdict

#: Opacity of the hottest spot of the overlay; cold regions stay fully visible.
OVERLAY_OPACITY = 0.6
#: Heat colours from cold to hot (dark blue, blue, green, yellow, red), spread evenly over 0..1.
HEAT_COLOURS = np.array([(20, 20, 120), (30, 90, 230), (40, 200, 120), (250, 220, 40), (230, 30, 30)], np.float32)
_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D,
            keras.layers.GlobalMaxPooling2D)
_EPSILON = 1e-7
#: Photos per Grad-CAM call: the tape keeps every activation of the batch for the backward pass.
BATCH = 8

#: A tap calls its layer and returns (the layer's output, the tensor to expose).
Tap = Callable[[keras.Layer, tuple, dict], tuple]


# ---------------------------------------------------------------------------------------------- finding the layers


def _layers_in_order(model: keras.Model):
    """Every layer of `model`, nested models' layers in place, in the order the model calls them."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers_in_order(layer)


def _contains(layer: keras.Layer, target: keras.Layer) -> bool:
    return isinstance(layer, keras.Model) and any(inner is target for inner in _layers_in_order(layer))


def feature_layer(model: keras.Model) -> keras.Layer:
    """The last layer with a spatial feature map (batch, height, width, channels) that is not a pooling layer."""
    spatial = [layer for layer in _layers_in_order(model)
               if not isinstance(layer, (keras.Model, keras.layers.InputLayer, *_POOLING))
               and len(layer.output.shape) == 4 and (layer.output.shape[1] or 0) > 1]
    if not spatial:
        raise ValueError(f"model {model.name!r} has no convolutional feature map to explain")
    return spatial[-1]


def _output_layer(model: keras.Model) -> keras.Layer:
    """The layer that makes the model's output, looking inside nested models."""
    last = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)][-1]
    return _output_layer(last) if isinstance(last, keras.Model) else last


def _is(activation, name: str) -> bool:
    return getattr(activation, "__name__", "") == name


def _tap_output(layer: keras.Layer, args: tuple, kwargs: dict) -> tuple:
    output = layer(*args, **kwargs)
    return output, output


def _tap_input(layer: keras.Layer, args: tuple, kwargs: dict) -> tuple:
    return layer(*args, **kwargs), args[0]


def _dense_preactivation(layer: keras.layers.Dense, args: tuple, kwargs: dict) -> tuple:
    x = ops.matmul(ops.cast(args[0], layer.kernel.dtype), layer.kernel)
    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    return layer(*args, **kwargs), ops.cast(x, "float32")


@dataclass(frozen=True)
class _Readout:
    """Where the logit of P(hotdog) is read: which layer to tap, and how its tapped tensor becomes the logit."""

    layer: keras.Layer
    tap: Tap
    logit: Callable[[tf.Tensor], tf.Tensor]


def _readout(model: keras.Model) -> _Readout:
    """The logit behind the output: a sigmoid's pre-activation, else log(p / (1 - p))."""
    last = _output_layer(model)
    if isinstance(last, keras.layers.Dense) and _is(last.activation, "sigmoid"):
        return _Readout(last, _dense_preactivation, lambda z: z[:, 0])
    if isinstance(last, keras.layers.Activation) and _is(last.activation, "sigmoid"):
        return _Readout(last, _tap_input, lambda z: z[:, 0])

    def from_probability(p: tf.Tensor) -> tf.Tensor:
        p = tf.cast(p[:, 0], tf.float32)
        return tf.math.log(p + _EPSILON) - tf.math.log(1.0 - p + _EPSILON)

    return _Readout(last, _tap_output, from_probability)


def with_taps(model: keras.Model, taps: dict[int, tuple[keras.Layer, Tap]]) -> keras.Model:
    """`model` rebuilt on its own layers, with outputs [its output, one tensor per tap, in the order of `taps`].

    `taps` maps id(layer) -> (layer, tap). Layers inside nested models are reached by rebuilding those models the
    same way.
    """
    found: dict[int, object] = {}

    def call(layer, *args, **kwargs):
        if id(layer) in taps:
            output, found[id(layer)] = taps[id(layer)][1](layer, args, kwargs)
            return output
        inner = {key: tap for key, tap in taps.items() if _contains(layer, tap[0])}
        if not inner:
            return layer(*args, **kwargs)
        output, *tapped = with_taps(layer, inner)(*args, **kwargs)
        found.update(zip(inner, tapped))
        return output

    rebuilt = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return keras.Model(rebuilt.input, [rebuilt.output, *(found[key] for key in taps)], name=f"{model.name}_taps")


# ---------------------------------------------------------------------------------------------- Grad-CAM


class GradCam:
    """Grad-CAM for one Keras model, built once and then reused for every photo."""

    def __init__(self, model: keras.Model) -> None:
        self.feature_layer = feature_layer(model)
        readout = _readout(model)
        taps = {id(self.feature_layer): (self.feature_layer, _tap_output),
                id(readout.layer): (readout.layer, readout.tap)}
        self._model = with_taps(model, taps)
        self._logit = readout.logit
        self._compute = tf.function(self._signed_maps, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)])

    def _signed_maps(self, batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(batch)  # a frozen backbone has no trainable variables for the tape to follow
            p_hotdog, features, tapped = self._model(batch, training=False)
            logit = self._logit(tapped)
        features = tf.cast(features, tf.float32)
        weights = tf.reduce_mean(tf.cast(tape.gradient(logit, features), tf.float32), axis=(1, 2), keepdims=True)
        return tf.reshape(tf.cast(p_hotdog, tf.float32), [-1]), tf.reduce_sum(weights * features, axis=-1)

    def signed_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(hotdog) and, per photo, the channel-weighted feature map before the ReLU: positive where the evidence
        says hotdog, negative where it says not hotdog (a batch of uint8 photos at the model's size)."""
        p_hotdog, maps = self._compute(np.asarray(batch, np.float32))
        return np.asarray(p_hotdog, np.float64), np.asarray(maps, np.float32)


def heatmap(signed_map: np.ndarray, hotdog: bool) -> np.ndarray:
    """Grad-CAM's heatmap for one answer: the evidence for it only (ReLU), scaled so the hottest spot is 1."""
    heat = np.maximum(np.nan_to_num(signed_map) * (1.0 if hotdog else -1.0), 0.0)
    top = float(heat.max())
    return heat / top if top > 0 else heat


@dataclass(frozen=True)
class Explanation:
    """A verdict and where its evidence lies: `heatmap` (0..1 at the feature map's resolution) explains the
    verdict's answer; None when the photo could not be read."""

    verdict: Verdict
    heatmap: np.ndarray | None


_cams: "weakref.WeakKeyDictionary[Classifier, GradCam]" = weakref.WeakKeyDictionary()
_cams_lock = threading.Lock()


def grad_cam(classifier: Classifier) -> GradCam:
    """The classifier's Grad-CAM, built on first use (a second or two) and kept as long as the classifier is."""
    with _cams_lock:
        if classifier not in _cams:
            _cams[classifier] = GradCam(classifier.model)
        return _cams[classifier]


def explain(classifier: Classifier, photos: Iterable[ImageSource] | ImageSource, threshold: float = 0.5,
            names: Sequence[str] | None = None) -> list[Explanation]:
    """A verdict and its Grad-CAM heatmap per photo; a photo that cannot be read gets its reason, the others go on."""
    cam = grad_cam(classifier)
    names, errors, found = classifier.over_readable(photos, names, lambda batch: zip(*cam.signed_maps(batch)), BATCH)
    explanations = []
    for index, (name, error) in enumerate(zip(names, errors)):
        if index not in found:
            explanations.append(Explanation(Verdict(name, None, threshold, error), None))
            continue
        score, signed_map = found[index]
        verdict = Verdict(name, float(score), threshold)
        explanations.append(Explanation(verdict, heatmap(signed_map, verdict.verdict == "hotdog")))
    return explanations


# ---------------------------------------------------------------------------------------------- drawing


def _lookup(values: np.ndarray) -> list[int]:
    """A Pillow `point` table from 256 values."""
    return np.clip(np.round(values), 0, 255).astype(np.uint8).tolist()


_LEVELS = np.linspace(0.0, 1.0, 256)
#: Colour of each heat level 0..255, per channel, for Pillow's `point`.
_HEAT_TABLES = [_lookup(np.interp(_LEVELS, np.linspace(0.0, 1.0, len(HEAT_COLOURS)), HEAT_COLOURS[:, channel]))
                for channel in range(3)]


def overlay(photo: Image.Image, heat: np.ndarray, opacity: float = OVERLAY_OPACITY) -> Image.Image:
    """The photo with its heatmap laid over the part of it the model saw (`hotdog.images.centre_box`); the hotter a
    spot, the more colour covers it. Pillow does the pixel work."""
    photo = photo.convert("RGB")
    left, top, right, bottom = (round(edge) for edge in centre_box(*photo.size))
    heat_levels = Image.fromarray(np.round(np.clip(np.nan_to_num(heat), 0.0, 1.0) * 255).astype(np.uint8), "L")
    levels = Image.new("L", photo.size, 0)
    levels.paste(heat_levels.resize((right - left, bottom - top), Image.Resampling.BICUBIC), (left, top))
    colours = Image.merge("RGB", [levels.point(table) for table in _HEAT_TABLES])
    return Image.composite(colours, photo, levels.point(_lookup(opacity * 255 * np.sqrt(_LEVELS))))
