"""EfficientNet-Lite0 with real ImageNet weights: the torch-free reader is safe, the cache is atomic, the network
recognises real photos, and the zero-shot hotdog model works on real hotdog photos."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA, in_threads, needs_shared_data
from hotdog import pretrained, prior
from hotdog.images import ImageError, load_array, to_array

skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """skimage's coffee and cat photos, resized the way the app feeds every model."""
    return np.stack([to_array(Image.fromarray(photo), pretrained.IMAGE_SIZE)
                     for photo in (skimage_data.coffee(), skimage_data.chelsea())])  # fmt: skip


@pytest.fixture(scope="module")
def zero_shot() -> keras.Model:
    return prior.build_imagenet()


def _evil_weights(path: Path, reduce: tuple) -> None:
    """A legacy-looking weights file whose state dict, when unpickled naively, runs `reduce`."""

    class Evil:
        def __reduce__(self):
            return reduce

    preamble = [pretrained._LEGACY_MAGIC, pretrained._LEGACY_PROTOCOL, {"little_endian": True}]
    path.write_bytes(b"".join(pickle.dumps(item, protocol=2) for item in [*preamble, Evil()]))


#: Published parameter counts of EfficientNet-Lite0/1/2 (ImageNet classifier included).
PARAMETERS = {"lite0": 4_652_008, "lite1": 5_416_680, "lite2": 6_092_072}


@pytest.mark.parametrize("name", list(pretrained.VARIANTS))
def test_reader_gives_each_variants_state_dict(name: str):
    source = pretrained.source_weights_path(name)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == pretrained.VARIANTS[name].sha256
    state = pretrained.read_legacy_torch_state_dict(source)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    trainable = sum(a.size for key, a in state.items() if not key.endswith(("running_mean", "running_var", "tracked")))
    assert trainable == PARAMETERS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_bigger_variants_convert_and_recognise_real_photos(name: str, tmp_path: Path):
    """One builder, a table of widths and depths: Lite1 and Lite2 load their own converted weights and see coffee
    and a cat at their own input sizes."""
    converted = pretrained.convert_weights(pretrained.source_weights_path(name), tmp_path / f"{name}.npz", name)
    with np.load(converted) as arrays:
        assert arrays["predictions/0"].shape == (1280, 1000)
    model = pretrained.load_efficientnet_lite(name)
    size = pretrained.VARIANTS[name].image_size
    assert model.input_shape == (None, size, size, 3)
    assert model.count_params() - sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == PARAMETERS[name]
    photos = np.stack([to_array(Image.fromarray(photo), size) for photo in (skimage_data.coffee(),
                                                                             skimage_data.chelsea())])
    coffee, chelsea = model.predict(photos.astype("float32"), verbose=0)
    assert coffee.argmax() == 967 and coffee.max() > 0.5  # espresso
    assert chelsea.argmax() in CAT_CLASSES


def test_unknown_variant_lists_the_choices():
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant 'lite9'.*lite0, lite1, lite2"):
        pretrained.build_efficientnet_lite("lite9")


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path, payload: str):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        reduce = (os.system, (f"touch {marker}",))
    else:
        reduce = (eval, (f"open({str(marker)!r}, 'w')",))
    _evil_weights(tmp_path / "evil.pth", reduce)
    with pytest.raises(pretrained.UnsafeWeightsError, match="system|eval"):
        pretrained.read_legacy_torch_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()


def test_checksum_mismatch_is_refused_with_both_hashes(tmp_path: Path):
    source, destination = tmp_path / "other.pth", tmp_path / "out.npz"
    source.write_bytes(b"not the weights we know")
    got = hashlib.sha256(source.read_bytes()).hexdigest()
    expected = pretrained.VARIANTS["lite0"].sha256
    with pytest.raises(pretrained.WeightsChecksumError, match=f"expected {expected}, got {got}.*reinstall"):
        pretrained.convert_weights(source, destination)
    assert not destination.exists()


def test_conversion_goes_to_hotdog_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOTDOG_CACHE_DIR", str(tmp_path / "cache"))
    path = pretrained.weights_path()
    assert path.parent == tmp_path / "cache" and path.is_file()
    assert pretrained.weights_path() == path  # second call reuses it


def test_two_concurrent_conversions_leave_one_valid_file(tmp_path: Path):
    destination = tmp_path / "lite0.npz"
    start, errors = threading.Barrier(2), []

    def convert(_: int) -> None:
        start.wait()
        try:
            pretrained.convert_weights(pretrained.source_weights_path(), destination)
        except Exception as error:  # surfaced below, with the thread's own error
            errors.append(error)

    in_threads(convert, 2)
    assert not errors
    assert [p.name for p in tmp_path.iterdir()] == [destination.name]  # no temp file left behind
    with np.load(destination) as arrays, np.load(pretrained.weights_path()) as reference:
        assert sorted(arrays.files) == sorted(reference.files)
        assert all(np.array_equal(arrays[key], reference[key]) for key in reference.files)


def test_coffee_is_espresso_and_chelsea_is_a_cat(photos: np.ndarray):
    coffee, chelsea = pretrained.top_labels(photos, k=3)
    names = pretrained.imagenet_classes()
    assert coffee[0][0] == names[967] == "espresso" and coffee[0][1] > 0.8
    assert chelsea[0][0] in [names[i] for i in CAT_CLASSES]
    [[(name, probability)]] = pretrained.top_labels(photos[0], k=1)  # one image works as a batch of one
    assert name == coffee[0][0] and probability == pytest.approx(coffee[0][1], abs=1e-4)


def test_imagenet_labels_of_any_photo_source(tmp_path: Path):
    coffee = tmp_path / "coffee.png"
    Image.fromarray(skimage_data.coffee()).save(coffee)
    labels = pretrained.imagenet_labels(coffee.read_bytes())
    assert len(labels) == 5 and labels[0][0] == "espresso"
    assert [p for _, p in labels] == sorted((p for _, p in labels), reverse=True)
    [(name, probability)] = pretrained.imagenet_labels(Image.open(coffee), k=1)
    assert name == labels[0][0] and probability == pytest.approx(labels[0][1], abs=1e-4)
    with pytest.raises(ImageError, match="not an image"):
        pretrained.imagenet_labels(b"not a photo at all")


def test_feature_extractor_gives_pooled_features():
    features = pretrained.load_efficientnet_lite(include_top=False)
    assert features.output_shape == (None, pretrained.FEATURES)


@pytest.mark.slow
def test_zero_shot_model_saves_and_says_not_hotdog_to_coffee_and_cat(zero_shot, photos, tmp_path: Path):
    scores = zero_shot.predict(photos, verbose=0)
    assert scores.shape == (2, 1) and ((scores >= 0) & (scores < 0.5)).all()
    zero_shot.save(tmp_path / "imagenet.keras")
    reloaded = keras.models.load_model(tmp_path / "imagenet.keras")  # built-in layers only: safe mode works
    np.testing.assert_allclose(reloaded.predict(photos, verbose=0), scores, atol=1e-5)


@needs_shared_data
def test_zero_shot_on_real_hotdog_photos(zero_shot):
    files = {label: sorted((SHARED_DATA / "test" / label).glob("*.jpg"))[:8] for label in ("hotdog", "nohotdog")}
    images = np.stack([load_array(f, pretrained.IMAGE_SIZE) for f in files["hotdog"] + files["nohotdog"]])
    says_hotdog = zero_shot.predict(images, verbose=0)[:, 0] > 0.5
    correct = says_hotdog[:8].sum() + (~says_hotdog[8:]).sum()
    assert correct >= 14, f"{correct}/16 right (measured 16/16)"
