"""The warm training worker for real: a worker process with TensorFlow imported forks each run, the runs match a
fresh `python -m hotdog train` exactly, signals reach them, and the worker follows the app and the code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.common import parent_pid
from conftest import REPO, last_json, run_cli
from hotdog import launch, runs, training, worker
from test_training import events, wait_for

APP = "import sys, time; from hotdog import worker; worker.ensure_running(sys.argv[1]); time.sleep(600)"
needs_worker = pytest.mark.skipif(not worker.available(),
                                  reason="the warm worker forks only on Linux, and not with HOTDOG_NO_FORK set")


def snapshot(folder: Path) -> Path:
    """A copy of the library for the worker to run: edits to the checkout meanwhile do not restart it."""
    shutil.copytree(REPO / "hotdog", folder / "hotdog", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def start_app(runs_dir: Path, code: Path) -> tuple[subprocess.Popen, int]:
    """A process playing the app: it starts the worker and lives on; returns it and the ready worker's pid."""
    app = subprocess.Popen([sys.executable, "-c", APP, str(runs_dir)], cwd=code)
    answer = wait_for(lambda: worker.ping(runs_dir), timeout=240, what="the worker to import TensorFlow")
    return app, answer["pid"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory):
    runs_dir = tmp_path_factory.mktemp("warm-runs")
    app, worker_pid = start_app(runs_dir, snapshot(tmp_path_factory.mktemp("code")))
    yield runs_dir, worker_pid
    app.kill()
    app.wait()


def config(tiny_dataset: Path, epochs: int) -> training.TrainConfig:
    return training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=epochs, batch_size=8, image_size=40,
                                seed=7)


def losses(run_dir: Path) -> list[float]:
    return [event["loss"] for event in events(run_dir, "batch")]


@pytest.mark.slow
@needs_worker
def test_worker_runs_are_forked_isolated_and_match_a_fresh_process(warm, tiny_dataset, tmp_path):
    runs_dir, worker_pid = warm
    forked = []
    for _ in range(2):
        run = launch.start_training_process(config(tiny_dataset, 1), runs_dir)
        pid = run.status["pid"]
        assert parent_pid(pid) == worker_pid and pid != os.getpid()
        wait_for(lambda: run.state == "completed", what="the worker's run to complete")
        forked.append((pid, run))
    fresh = Path(last_json(run_cli("train", "--data", tiny_dataset, "--model", "seed", "--epochs", "1",
                                   "--batch-size", "8", "--image-size", "40", "--seed", "7", "--runs-dir",
                                   tmp_path, "--json").stdout)["run"])

    (first_pid, first), (second_pid, second) = forked
    assert first_pid != second_pid
    assert losses(first.path) == losses(second.path) == losses(fresh)  # nothing carried over from run to run
    assert first.has_model() and "run folder:" in (first.path / runs.LOG).read_text()


@pytest.mark.slow
@needs_worker
def test_sigterm_stops_a_worker_run_after_the_current_batch(warm, tiny_dataset):
    runs_dir, _ = warm
    run = launch.start_training_process(config(tiny_dataset, 200), runs_dir)
    wait_for(lambda: events(run.path, "epoch"), what="first epoch")
    os.kill(run.status["pid"], signal.SIGTERM)
    wait_for(lambda: run.state == "stopped", what="stopped state")
    assert run.has_model()


@pytest.mark.slow
@needs_worker
def test_worker_refuses_a_run_that_is_not_waiting_to_start(warm, tmp_path):
    runs_dir, _ = warm
    run = runs.claim_run(runs_dir, "not-waiting", {"settings": {}})
    run.update_status(state="completed")
    assert worker.submit(run) is None
    assert run.status["pid"] == os.getpid()  # nothing was started for it


@pytest.mark.slow
def test_the_worker_imports_leave_tensorflow_uninitialised_so_forking_is_safe():
    check = ("from hotdog import worker; worker._import_training_code(); "
             "from tensorflow.python.eager import context; print(context.context()._initialized)")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=240)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr[-2000:]


def test_without_a_worker_submit_declines_at_once(tmp_path):
    run = runs.claim_run(tmp_path, "no-worker", {"settings": {}})
    started = time.perf_counter()
    assert worker.submit(run) is None and time.perf_counter() - started < 1


@pytest.mark.slow
@needs_worker
def test_worker_restarts_on_code_changes_and_quits_with_the_app(tmp_path):
    copy = snapshot(tmp_path / "code")
    runs_dir = tmp_path / "runs"
    app, worker_pid = start_app(runs_dir, copy)
    try:
        os.utime(copy / "hotdog" / "data.py")
        wait_for(lambda: worker.ping(runs_dir) is None, timeout=30, what="the worker to notice the change")
        assert wait_for(lambda: worker.ping(runs_dir), timeout=240, what="the restart")["pid"] == worker_pid
        assert "starting afresh" in (runs_dir / worker.LOG_NAME).read_text()
    finally:
        app.kill()
        app.wait()
    wait_for(lambda: not runs.pid_alive(worker_pid), timeout=30, what="the worker to quit")
    assert not worker.socket_path(runs_dir).exists()
