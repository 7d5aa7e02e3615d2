"""Faults around a run folder: a full disk, a read-only runs folder, half-written lines, the app dying mid-run.

The session's trained run stands for the earlier runs a fault must not touch.

The disk faults are real: a small tmpfs that fills up, a read-only bind mount (both need root; the read-only test
falls back to file permissions for other users).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO, last_json, run_cli
from hotdog import launch, runs, training
from test_training import events, wait_for
from test_worker import needs_worker, parent_pid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]  # shared fixtures are not counted


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and the sha256 of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Iterator[Path]:
    """A real filesystem of `size_kb` (a tmpfs) at `path`, unmounted afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root on Linux")
    path.mkdir()
    _mount("-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """Make `folder` read-only for real; yields the reason writes will give."""
    if os.name == "nt":
        pytest.skip("Windows ignores read-only permissions on folders")
    if os.geteuid() == 0:  # root ignores permissions: bind-mount the folder onto itself, read-only
        if not shutil.which("mount"):
            pytest.skip("no mount command to make a read-only folder as root")
        _mount("--bind", str(folder), str(folder))
        try:
            _mount("-o", "remount,bind,ro", str(folder))
            yield "Read-only file system"
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    else:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")] if path.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            for path, mode in modes.items():
                path.chmod(mode)


def new_runs(runs_dir: Path, earlier: Path) -> list[runs.Run]:
    return [run for run in runs.list_runs(runs_dir) if run.id != earlier.name]


def test_full_disk_fails_the_run_with_that_message_and_leaves_earlier_runs_alone(trained_run, tiny_dataset,
                                                                                  tmp_path):
    used_kb = sum(path.stat().st_size for path in trained_run.rglob("*")) // 1024
    with small_disk(tmp_path / "disk", used_kb + 512) as disk:  # room for the records, not for a checkpoint
        runs_dir = disk / "runs"
        shutil.copytree(trained_run, runs_dir / trained_run.name)
        before = snapshot(runs_dir / trained_run.name)

        result = run_cli("train", "--data", tiny_dataset, "--model", "seed", "--epochs", "2", "--image-size", "32",
                         "--runs-dir", runs_dir, "--json", check=False, timeout=120)

        assert result.returncode == 2 and "error: [Errno 28] No space left on device" in result.stderr
        (failed,) = new_runs(runs_dir, trained_run)
        assert failed.state == "failed" and "No space left on device" in failed.status["error"]
        assert not [path.name for path in failed.path.iterdir() if "tmp" in path.name]  # no half checkpoint left
        assert snapshot(runs_dir / trained_run.name) == before
        assert [run.state for run in runs.list_runs(runs_dir)] == ["failed", "completed"]


def test_status_write_on_a_full_disk_keeps_the_old_status_and_no_temp_file(tmp_path):
    with small_disk(tmp_path / "disk", 64) as disk:
        run = runs.Run(disk)
        run.update_status(state="running", epochs_completed=3)
        with open(disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"\0" * 4096)
        with pytest.raises(OSError, match="No space left"):
            run.update_status(note="x" * 8192)
        assert json.loads((disk / runs.STATUS).read_text()) == {"state": "running", "epochs_completed": 3}
        assert sorted(path.name for path in disk.iterdir()) == [runs.STATUS_LOCK, "filler", runs.STATUS]


def test_read_only_runs_folder_refuses_a_new_run_with_that_message_and_keeps_earlier_runs(trained_run, tiny_dataset,
                                                                                        tmp_path):
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_run, runs_dir / trained_run.name)
    (runs_dir / ".start.lock").touch()  # left by the earlier session
    before = snapshot(runs_dir)
    with read_only(runs_dir) as reason:
        result = run_cli("train", "--data", tiny_dataset, "--model", "seed", "--epochs", "1", "--image-size", "32",
                         "--runs-dir", runs_dir, check=False)
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: ")
        assert reason in result.stderr and str(runs_dir) in result.stderr
        with pytest.raises(OSError, match=reason):  # the Train page's door
            launch.start_training_process(training.TrainConfig(
                data=str(tiny_dataset), model="seed", epochs=1, image_size=32), runs_dir)
        listing = [json.loads(line) for line in run_cli("runs", "--runs-dir", runs_dir, "--json").stdout.splitlines()]
        assert [row["state"] for row in listing] == ["completed"]  # reading still works
    assert snapshot(runs_dir) == before


def test_readers_ignore_a_half_written_last_line_of_metrics(trained_run, tmp_path):
    run = runs.Run(Path(shutil.copytree(trained_run, tmp_path / trained_run.name)))
    complete = run.metrics()
    with open(run.path / runs.METRICS, "a") as handle:  # a writer killed in the middle of a line
        handle.write(json.dumps({"event": "batch", "epoch": 2, "step": 1, "loss": 0.25})[:29])

    assert run.metrics() == complete and complete[-1]["event"] == "epoch"
    assert training.run_summary(run)["epochs"] == len([event for event in complete if event["event"] == "epoch"])
    row = last_json(run_cli("runs", "--runs-dir", tmp_path, "--json").stdout)
    assert row["id"] == run.id and row["state"] == "completed"


def test_a_model_carrying_code_planted_in_a_run_folder_is_refused_and_nothing_runs(trained_run, tmp_path):
    import keras

    from hotdog.predict import Classifier

    marker = tmp_path / "code-ran"
    inputs = keras.Input((48, 48, 3))
    planted = keras.layers.Lambda(lambda x, path=str(marker): (__import__("pathlib").Path(path).touch(), x)[1])
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(planted(inputs))))
    run = Path(shutil.copytree(trained_run, tmp_path / trained_run.name))
    model.save(run / runs.BEST_MODEL)
    marker.unlink(missing_ok=True)  # building the model may run the lambda; loading must not

    with pytest.raises(ValueError, match="deserialization of a `Lambda` layer whose `function` is a Python lambda"):
        Classifier.load(run)
    assert not marker.exists()


APP = """
import sys, time
from hotdog import launch, training, worker
data, runs_dir, warm = sys.argv[1:]
if warm == "warm":  # what streamlit_app.py does on start
    worker.ensure_running(runs_dir)
    while worker.ping(runs_dir) is None:
        time.sleep(0.2)
run = launch.start_training_process(training.TrainConfig(
    data=data, model="seed", epochs=2, batch_size=8, image_size=32), runs_dir)
print(run.path, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("warm", ["cold", pytest.param("warm", marks=needs_worker)],
                         ids=["spawned-process", "warm-worker"])
@pytest.mark.skipif(os.name == "nt", reason="kills a process group and reads sessions (Unix)")
def test_killing_the_app_that_started_a_run_leaves_the_run_going_to_the_end(tiny_dataset, tmp_path, warm):
    app = subprocess.Popen([sys.executable, "-c", APP, str(tiny_dataset), str(tmp_path), warm],
                           stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True)
    run = runs.Run(Path(app.stdout.readline().strip()))
    wait_for(lambda: events(run.path, "batch"), what="the first batch")
    training_pid = run.status["pid"]
    assert os.getsid(training_pid) not in (app.pid, os.getsid(0))  # a session of its own
    assert (parent_pid(training_pid) == app.pid) == (warm == "cold")  # warm: forked by the worker
    os.killpg(app.pid, signal.SIGKILL)  # the app server and everything in its process group, at once
    app.wait(timeout=10)
    app.stdout.close()

    wait_for(lambda: run.state not in runs.ACTIVE_STATES, timeout=120, what="the run to end")
    assert run.state == "completed" and run.status["pid"] == training_pid, run.status
    row = last_json(run_cli("runs", "--runs-dir", tmp_path, "--json").stdout)  # a restarted app reads it back
    assert row["id"] == run.id and row["state"] == "completed" and row["epochs_completed"] == 2
    assert [event["epoch"] for event in events(run.path, "epoch")] == [1, 2]
