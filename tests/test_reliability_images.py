"""Hostile photos through every door: the Classifier, `python -m hotdog predict`, check-data and training.

Each one gets a verdict or a clear one-line reason: never a crash, a hang (pytest-timeout) or a memory spike.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

import hostile
from conftest import REPO, last_json, make_dataset, run_cli
from hotdog import images, runs
from hotdog.predict import Classifier

pytestmark = pytest.mark.timeout(120, func_only=True)  # shared fixtures are not counted
BAD = {kind.name for kind in hostile.KINDS if kind.reason}
GOOD = {kind.name for kind in hostile.KINDS if not kind.reason}
#: The most a predict process may grow by for the whole corpus, over the same process for one plain photo.
#: Decoding the 20,000 x 20,000 bomb alone would take 1.6 GB.
MEMORY_HEADROOM_MB = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile.write_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def classifier(seed_model_file: Path) -> Classifier:
    return Classifier.load(seed_model_file)


def test_the_corpus_is_real_files_of_twenty_kinds_or_more():
    assert len(hostile.KINDS) >= 20 and len(BAD) >= 10 and len(GOOD) >= 10
    small = images.load_rgb(hostile.blank_png(300, 200)).convert("L")
    assert small.size == (300, 200) and small.getextrema() == (0, 0)  # the bomb's generator makes valid PNGs
    bomb = hostile.png_bomb()
    assert struct.unpack(">II", bomb[16:24]) == (20_000, 20_000) and len(bomb) < 1_000_000
    inflater, inflated = zlib.decompressobj(), 0
    stream = bomb[bomb.index(b"IDAT") + 4:-16]
    for start in range(0, len(stream), 4096):  # inflate in bounded pieces: 400 MB of pixels in ~400 KB
        inflated += len(inflater.decompress(stream[start:start + 4096], 1 << 24))
        while inflater.unconsumed_tail:
            inflated += len(inflater.decompress(inflater.unconsumed_tail, 1 << 24))
    assert inflated == 20_001 * 20_000 and inflater.eof


@pytest.mark.parametrize("name", [kind.name for kind in hostile.KINDS])
def test_classifier_answers_every_hostile_photo_as_file_and_as_upload(classifier, corpus, name):
    from_file, from_bytes = classifier.predict([corpus[name], corpus[name].read_bytes()])
    hostile.assert_answered(name, from_file.p_hotdog, from_file.error)
    hostile.assert_answered(name, from_bytes.p_hotdog, from_bytes.error)
    assert from_file.p_hotdog == from_bytes.p_hotdog
    assert (from_file.label == "Cannot read this photo") == (name in BAD)


def test_one_call_with_the_whole_corpus_answers_each_photo_in_order(classifier, corpus):
    verdicts = classifier.predict(list(corpus.values()))
    assert [v.source for v in verdicts] == [str(path) for path in corpus.values()]
    for name, verdict in zip(corpus, verdicts):
        hostile.assert_answered(name, verdict.p_hotdog, verdict.error)


def test_pixel_limit_refuses_before_decoding_and_pillows_own_guard_is_on(corpus, monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(images.ImageError, match=r"^image is too large \(400 megapixels, limit 50 megapixels\)$"):
            images.load_rgb(corpus["bomb-20000x20000.png"])  # Pillow's guard stops it, we word it
        with pytest.raises(images.ImageError, match=r"^image is too large \(8000 x 8000 pixels, limit 50 "
                                                     r"megapixels\)$"):
            images.load_rgb(hostile.blank_png(8000, 8000))  # over our limit, under twice it: our own check
    assert not caught  # no DecompressionBombWarning or any other Pillow noise
    assert images.MAX_PIXELS == 50_000_000 == Image.MAX_IMAGE_PIXELS
    with pytest.raises(Image.DecompressionBombError):  # any other code in the process is guarded as well
        Image.open(corpus["bomb-20000x20000.png"])
    monkeypatch.setattr(images, "MAX_PIXELS", 120 * 90)
    assert images.load_rgb(hostile.encoded(hostile.picture(120, 90), "PNG")).size == (120, 90)
    with pytest.raises(images.ImageError, match=r"121 x 90 pixels"):
        images.load_rgb(hostile.encoded(hostile.picture(121, 90), "PNG"))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(classifier, tmp_path):
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(60_000_000)  # sparse: 60 MB on paper, nothing on disk
    [verdict] = classifier.predict([huge])
    assert verdict.error == f"file is too large (60 MB, limit {images.MAX_FILE_BYTES / 1e6:.0f} MB)"


POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="named pipes, Unix sockets and /dev/zero are POSIX things")


@pytest.fixture(scope="module")
def special_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile.write_special_files(tmp_path_factory.mktemp("special"))


@POSIX_ONLY
def test_special_files_are_refused_before_a_byte_is_read(classifier, special_files):
    """A named pipe used to hang predict forever; a link to /dev/zero read 6 GB, then a MemoryError traceback."""
    verdicts = classifier.predict(list(special_files.values()))
    for (name, _, reason), verdict in zip(hostile.SPECIAL_FILES, verdicts):
        assert verdict.p_hotdog is None and verdict.error.startswith(reason), (name, verdict.error)
    assert images.probe(special_files["pipe.jpg"]) == (None, "not a regular file (a named pipe)")
    with pytest.raises(images.ImageError, match=r"^not a regular file \(a device\)$"):
        images.load_rgb(special_files["endless-zeros.jpg"])


@pytest.mark.slow
@POSIX_ONLY
def test_cli_predict_answers_special_files_at_once(seed_model_file, special_files, corpus):
    result = run_cli("predict", seed_model_file, *special_files.values(), corpus["png-named.jpg"], timeout=60)
    lines = result.stdout.splitlines()
    named = [*special_files.values(), corpus["png-named.jpg"]]
    assert [line.split(": ", 1)[0] for line in lines] == [str(path) for path in named]
    for (_, _, reason), line in zip(hostile.SPECIAL_FILES, lines):
        assert line.split(": cannot read: ", 1)[1].startswith(reason), line
    assert "P(hotdog) = " in lines[-1] and "Traceback" not in result.stderr


@POSIX_ONLY
def test_check_data_goes_past_special_files_among_the_photos(tmp_path):
    root = make_dataset(tmp_path / "data", {"train": 4})
    hostile.write_special_files(root / "train" / "hotdog")
    report = last_json(run_cli("check-data", root, "--json", timeout=60).stdout)
    assert report["splits"]["train"] == {"hotdog": 3, "nohotdog": 3} and report["unreadable"] == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_reading_stops_at_the_limit_whatever_the_size_on_disk_says(tmp_path, monkeypatch):
    """Only limit + 1 bytes are ever read: a regular file whose size says 0 but holds more is still refused."""
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    small = tmp_path / "small.jpg"
    small.write_bytes(bytes(100))
    assert images.read_file(small) == bytes(100)
    environment = Path("/proc/self/environ")  # a regular file, st_size 0, several KB of content
    assert environment.stat().st_size == 0 and len(environment.read_bytes()) > 100
    with pytest.raises(images.ImageError, match=r"^file is too large"):
        images.read_file(environment)


def measured_cli(*args: str, timeout: float = 90) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m hotdog ...` in a subprocess, and that process's peak resident memory in MB.

    A small wrapper process starts it, so RUSAGE_CHILDREN holds that one process and nothing pytest ran before.
    `ru_maxrss` counts KiB on Linux and bytes on macOS.
    """
    wrapper = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "print(peak // 1024 if sys.platform == 'darwin' else peak, file=sys.stderr); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "hotdog", *args],
                            capture_output=True, text=True, timeout=timeout, cwd=REPO, env=os.environ)
    return result, int(result.stderr.strip().splitlines()[-1]) / 1024


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="peak memory is read with the resource module, which Windows lacks")
def test_cli_predict_answers_the_whole_corpus_in_one_process_without_a_memory_spike(seed_model_file, corpus):
    plain, plain_peak = measured_cli("predict", seed_model_file, corpus["png-named.jpg"], corpus["empty.jpg"])
    result, peak = measured_cli("predict", seed_model_file, *corpus.values(), "--json")

    assert plain.returncode == 0 and result.returncode == 0, result.stderr
    assert plain.stdout.splitlines()[0].startswith(f"{corpus['png-named.jpg']}: ")
    assert "P(hotdog) = " in plain.stdout.splitlines()[0]
    assert plain.stdout.splitlines()[1:] == [f"{corpus['empty.jpg']}: cannot read: empty file (0 bytes)"]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [answer["path"] for answer in answers] == [str(path) for path in corpus.values()]
    for name, answer in zip(corpus, answers):
        hostile.assert_answered(name, answer.get("p_hotdog"), answer.get("error"))
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    print(f"peak RSS: one plain photo {plain_peak:.0f} MB, {len(corpus)} hostile photos {peak:.0f} MB")
    assert peak - plain_peak < MEMORY_HEADROOM_MB, (plain_peak, peak)


#: Peak RSS allowed for `predict` on one 49-megapixel 16-bit PNG (one plain photo takes about 0.7 GB).
DECODE_BUDGET_MB = 1024


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="peak memory is read with the resource module, which Windows lacks")
@pytest.mark.parametrize("name", ["sixteen-bit-gray-7000x7000.png", "sixteen-bit-rgba-7000x7000.png"])
def test_a_49_megapixel_16_bit_photo_decodes_within_the_memory_budget(seed_model_file, corpus, name):
    """Under the pixel limit, but its conversion through float64 arrays took predict to 1.9 GB (grey) and 1.6 GB
    (RGBA): converted a band of rows at a time now, each band shrunk as it goes."""
    result, peak = measured_cli("predict", seed_model_file, corpus[name], "--json")
    assert result.returncode == 0, result.stderr
    hostile.assert_answered(name, json.loads(result.stdout).get("p_hotdog"), json.loads(result.stdout).get("error"))
    print(f"peak RSS of predict on {name}: {peak:.0f} MB")
    assert peak <= DECODE_BUDGET_MB, peak


@pytest.fixture(scope="module")
def hostile_dataset(tmp_path_factory: pytest.TempPathFactory, corpus) -> Path:
    """Drawn photos, plus the whole corpus among the training hotdogs."""
    root = make_dataset(tmp_path_factory.mktemp("hostile-data"), {"train": 8, "validation": 3})
    for name, path in corpus.items():
        (root / "train" / "hotdog" / name).write_bytes(path.read_bytes())
    return root


def test_check_data_lists_every_bad_photo_with_its_reason(hostile_dataset):
    report = last_json(run_cli("check-data", hostile_dataset, "--json", timeout=90).stdout)
    folder = hostile_dataset / "train" / "hotdog"
    assert {Path(item["path"]).name for item in report["unreadable"]} == BAD
    for item in report["unreadable"]:
        hostile.assert_answered(Path(item["path"]).name, None, item["reason"])
    assert report["splits"]["train"]["hotdog"] == 8 + len(hostile.KINDS)
    small = {Path(item["path"]).name for item in report["small_images"]}
    assert {"one-pixel.png", "thin-1x20000.png", "sixteen-bit-rgb.png"} <= small
    assert all(Path(item["path"]).parent == folder for item in report["unreadable"])


@pytest.mark.slow
def test_training_on_a_dataset_with_the_corpus_skips_the_bad_photos(hostile_dataset, tmp_path):
    summary = last_json(run_cli("train", "--data", hostile_dataset, "--model", "seed", "--epochs", "1",
                                "--image-size", "40", "--runs-dir", tmp_path, "--json", timeout=110).stdout)
    assert summary["state"] == "completed", summary
    dataset = runs.Run(Path(summary["run"])).config["dataset"]
    assert {Path(item["path"]).name for item in dataset["unreadable"]} == BAD
    assert dataset["used"]["train"] == {"hotdog": 8 + len(GOOD), "nohotdog": 8}
