"""Shared fixtures: an isolated cache and runs folder, tiny real datasets, one real trained run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image, ImageDraw

from bench.common import REPO, SHARED_DATA, free_port  # noqa: F401 (free_port: for the tests)
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"real photos not found at {SHARED_DATA} (../shared/data ships with the team checkout, not with a clone)")
SHIFT_DATA = REPO.parent / "shared" / "data" / "shift-dtu"
needs_shift_data = pytest.mark.skipif(
    not SHIFT_DATA.is_dir(),
    reason=f"real photos not found at {SHIFT_DATA} (../shared/data ships with the team checkout, not with a clone)")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--refresh-screenshots", action="store_true",
                     help="save the browser test's screenshots into docs/screenshots/ (default: a temporary folder)")


@pytest.fixture(scope="session", autouse=True)
def isolated_folders(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test writes caches and runs under pytest's temp folder, never into the user's."""
    root = tmp_path_factory.mktemp("hotdog-env")
    os.environ["HOTDOG_CACHE_DIR"] = str(root / "cache")
    os.environ["HOTDOG_RUNS_DIR"] = str(root / "runs")
    os.environ["HOTDOG_DATA_DIR"] = str(root / "data")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args: str, check: bool = True, timeout: float = 600, env: dict | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m hotdog ...` in a real subprocess."""
    result = subprocess.run([sys.executable, "-m", "hotdog", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def in_threads(target: Callable[[int], None], count: int, timeout: float | None = None) -> None:
    """Run `target(0)` ... `target(count - 1)` on threads of their own, all at once, and wait for every one."""
    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def draw_photo(path: Path, hotdog: bool, index: int, fmt: str = "JPEG") -> Path:
    """A small drawn photo: a brown sausage on a bun colour for hotdog, a round green thing otherwise."""
    image = Image.new("RGB", (96, 72), (90 + index % 60, 140, 200) if hotdog else (60, 110 + index % 60, 60))
    draw = ImageDraw.Draw(image)
    if hotdog:
        draw.rounded_rectangle([10 + index % 9, 25, 86, 50], radius=12, fill=(225, 180, 110))
        draw.rounded_rectangle([14 + index % 9, 32, 82, 43], radius=6, fill=(150, 60, 30))
    else:
        draw.ellipse([20 + index % 11, 12, 70, 62], fill=(240, 220, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


def make_dataset(root: Path, per_class: dict[str, int], positive: str = "hotdog",
                 negative: str = "nohotdog") -> Path:
    """A dataset in the seed layout; `per_class` maps split -> photos per class."""
    for split, count in per_class.items():
        for index in range(count):
            draw_photo(root / split / positive / f"{index}.jpg", True, index + hash(split) % 7)
            draw_photo(root / split / negative / f"{index}.jpg", False, index + hash(split) % 5)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tiny"), {"train": 24, "validation": 8, "test": 8})


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hotdog import demo_data

    return demo_data.generate(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture(scope="session")
def trained_run(demo_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed model trained for real for 4 epochs on the demo data, through the CLI."""
    runs_dir = tmp_path_factory.mktemp("trained-runs")
    result = run_cli("train", "--data", demo_dataset, "--model", "seed", "--epochs", "4", "--runs-dir", runs_dir,
                     "--json")
    summary = last_json(result.stdout)
    assert summary["state"] == "completed", summary
    return Path(summary["run"])


@pytest.fixture(scope="session")
def seed_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed model at 48 px, trained one step and saved as the product saves it: a real .keras file in seconds."""
    import numpy as np

    from hotdog.models import build_model

    model = build_model("seed", image_size=48)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3)).astype("float32")
    model.fit(pixels, np.array([0.0, 1.0, 0.0, 1.0]), verbose=0)
    path = tmp_path_factory.mktemp("seed-model") / "seed48.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def quick_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real completed run folder in seconds: the seed model, one epoch at 48 px on the tiny dataset, trained in
    this process by the same code the app's training process runs."""
    from hotdog import training

    run = training.new_run(training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=1, image_size=48,
                                                batch_size=8), tmp_path_factory.mktemp("quick-runs"))
    training.train(run, verbose=0)
    assert run.state == "completed" and run.has_model(), run.status
    return run.path
