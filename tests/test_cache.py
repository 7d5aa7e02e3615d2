"""Cache files that were damaged after they were written (cut short, changed, their seal lost): noticed on read
and rebuilt, instead of failing every later `train` or `predict imagenet` until someone deletes them by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import hostile
from conftest import make_dataset, run_cli
from hotdog import cache, data, pretrained

DAMAGE = dict(hostile.CACHE_DAMAGE)


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOTDOG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_sealed_file_reads_as_damaged_after_any_change(tmp_path, damage):
    path = tmp_path / "weights.npz"
    path.write_bytes(os.urandom(10_000))
    assert not cache.verified(path)  # never sealed
    assert cache.verified(cache.seal(path))
    DAMAGE[damage](path)
    assert not cache.verified(path)


def test_the_same_bytes_written_again_still_verify_and_are_not_hashed_twice(tmp_path):
    path = tmp_path / "features.npy"
    path.write_bytes(b"x" * 100)
    cache.seal(path)
    os.utime(path, ns=(1, 1))  # rewritten by another process: another modification time, the same bytes
    assert cache.verified(path)  # hashed, found equal, and the new time recorded ...
    assert json.loads(Path(f"{path}.check").read_text())["mtime_ns"] == 1  # ... so the next read need not hash


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_decoded_photos_are_decoded_again(own_cache, tmp_path, damage):
    examples = data.load_dataset(make_dataset(tmp_path / "photos", {"train": 6})).splits["train"]
    first = data.decode(examples, 40)
    [images_file] = (own_cache / "decoded").glob("*.npy")
    DAMAGE[damage](images_file)
    again = data.decode(examples, 40)
    np.testing.assert_array_equal(np.asarray(again.images), first.images)
    assert cache.verified(images_file) and isinstance(data.decode(examples, 40).images, np.memmap)


def test_a_damaged_decoded_photos_index_is_rebuilt(own_cache, tmp_path):
    examples = data.load_dataset(make_dataset(tmp_path / "photos", {"train": 6})).splits["train"]
    first = data.decode(examples, 40)
    [meta_file] = (own_cache / "decoded").glob("*.json")
    meta_file.write_text('{"paths": [')
    assert data.decode(examples, 40).paths == first.paths and cache.verified(meta_file)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_converted_weights_are_converted_again(own_cache, damage):
    path = pretrained.lite0_weights_path()
    whole = path.read_bytes()
    DAMAGE[damage](path)
    assert pretrained.lite0_weights_path() == path and path.read_bytes() == whole


@pytest.mark.slow
def test_predict_imagenet_works_again_after_its_weights_were_cut_short(own_cache, tmp_path):
    """The case that used to fail every later `predict imagenet` until the file was deleted by hand."""
    weights = pretrained.lite0_weights_path()
    DAMAGE["cut-in-half"](weights)
    photo = tmp_path / "photo.png"
    photo.write_bytes(hostile.encoded(hostile.picture(), "PNG"))
    result = run_cli("predict", "imagenet", photo, timeout=300)
    assert "P(hotdog) = " in result.stdout and cache.verified(weights)
