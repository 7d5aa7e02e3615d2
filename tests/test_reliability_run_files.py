"""Run folders that lie: hand-corrupted config.json, status.json and metrics.jsonl, and a status stuck at "running".

Every corruption of `hostile.RUN_FILE_DAMAGE` is applied to a copy of a real completed run, next to the real run
itself: the library readers, `python -m hotdog runs` and every page go on, the damaged run is listed as
"damaged: <reason>", its bad metrics lines are skipped and the good ones kept.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import hostile
from conftest import REPO, run_cli
from hotdog import monitor, runs, training, workspace

pytestmark = pytest.mark.timeout(150, func_only=True)  # shared fixtures are not counted
DAMAGE = {damage.name: damage for damage in hostile.RUN_FILE_DAMAGE}


@pytest.fixture(scope="module")
def damaged_runs(quick_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder: the real run, and one copy of it per corruption (named so that they list newest first)."""
    folder = tmp_path_factory.mktemp("damaged-runs")
    shutil.copytree(quick_run, folder / f"20000101-000000-{quick_run.name}")
    for number, damage in enumerate(hostile.RUN_FILE_DAMAGE):
        copy = folder / f"20990101-{number:06d}-{damage.name}"
        shutil.copytree(quick_run, copy)
        hostile.damage_run(copy, damage)
    return folder


def test_the_corpus_holds_every_kind_of_damage_the_readers_met():
    assert len(hostile.RUN_FILE_DAMAGE) >= 27
    assert {damage.file for damage in hostile.RUN_FILE_DAMAGE} == {"config.json", "status.json", "metrics.jsonl"}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_the_library_reads_every_damaged_run_and_says_what_is_wrong(damaged_runs, name):
    damage = DAMAGE[name]
    [run] = [run for run in runs.list_runs(damaged_runs) if run.id.endswith(f"-{name}")]
    status, config, events = run.status, run.config, run.metrics()
    assert isinstance(status, dict) and isinstance(config, dict)
    assert isinstance(config.get("settings", {}), dict) and isinstance(config.get("dataset", {}), dict)
    if damage.damage is None:
        assert run.damage is None and run.listed_state == run.state == "completed"
    else:
        assert damage.damage in run.damage and run.listed_state == f"damaged: {run.damage}", run.damage
    if damage.file == "metrics.jsonl":
        assert len(events) == 2 and all(event["loss"] == 0.7 for event in events)  # the good lines around it
    history = monitor.TrainingHistory.from_events(events)
    history.progress()
    history.charts(monitor.majority_baseline(run))
    view = monitor.RunMonitor(run).view()  # what the Train page draws, metrics.jsonl read its own way
    assert view.batch_events == history.batch_count and view.epoch_events == len(history.epochs)
    assert monitor.run_row(run)["state"] == run.listed_state
    assert workspace.run_label(run).endswith(run.listed_state)
    training.run_summary(run)
    assert run.state not in runs.ACTIVE_STATES  # a damaged "running" status never blocks training


def test_python_m_hotdog_runs_lists_every_damaged_run(damaged_runs):
    listing = run_cli("runs", "--runs-dir", damaged_runs, timeout=60)
    assert "Traceback" not in listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert len(lines) == len(hostile.RUN_FILE_DAMAGE) + 1
    rows = {row["id"]: row for row in map(json.loads, run_cli("runs", "--runs-dir", damaged_runs, "--json",
                                                               timeout=60).stdout.splitlines())}
    for run_id, row in rows.items():
        damage = DAMAGE.get(run_id.split("-", 2)[2])
        if damage is not None and damage.damage is not None:
            assert damage.damage in row["damage"] and f"damaged: {row['damage']}" in lines[run_id], lines[run_id]
        else:
            assert row["damage"] is None and "damaged" not in lines[run_id]


def test_resuming_a_damaged_run_says_why_not(damaged_runs):
    [run] = [run for run in runs.list_runs(damaged_runs) if run.id.endswith("-settings-null")]
    run.update_status(state="stopped")
    result = run_cli("train", "--resume", run.path, check=False, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (f"error: run {run.id} cannot be resumed: config.json "
                                                      f"settings is null; start a new run")


@pytest.fixture
def app_with_damaged_runs(damaged_runs: Path, tiny_dataset: Path, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(damaged_runs))
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    workspace.use_dataset(tiny_dataset)
    return damaged_runs


@pytest.mark.parametrize("page", [pytest.param("home", marks=pytest.mark.slow),
                                  pytest.param("train", marks=pytest.mark.slow), "predict", "evaluate"])
def test_every_page_goes_on_with_every_damaged_run_listed(app_with_damaged_runs, page):
    """Home and Train show the newest run (one damaged run each time, the others moved aside); Predict and Evaluate
    list them all."""
    folder = app_with_damaged_runs
    aside = folder.parent / f"{folder.name}-aside"
    aside.mkdir(exist_ok=True)
    newest_each_time = page in ("home", "train")
    for damaged in sorted(folder.glob("2099*")) if newest_each_time else [None]:
        if damaged is not None:
            for other in folder.glob("2099*"):
                other.rename(aside / other.name)
            (aside / damaged.name).rename(damaged)
        at = AppTest.from_file(str(REPO / ("streamlit_app.py" if page == "home" else f"app_pages/{page}.py")),
                               default_timeout=60)
        at.session_state["worker_started"] = True  # no warm training worker: nothing here trains
        at.run()
        assert not at.exception, (damaged, [exception.value for exception in at.exception])
        if page == "train" and DAMAGE[damaged.name.split("-", 2)[2]].damage:
            assert any(warning.value.startswith("Damaged run files: ") for warning in at.warning), damaged.name
    for moved in aside.iterdir():
        moved.rename(folder / moved.name)


# ---------------------------------------------------------------------------------------------- stale status


def stuck_run(runs_dir: Path, quick_run: Path, **status) -> runs.Run:
    path = runs_dir / f"20990101-000000-stuck-{len(list(runs_dir.glob('*'))) if runs_dir.exists() else 0}"
    shutil.copytree(quick_run, path)
    (path / runs.STATUS).write_text(json.dumps(status))
    return runs.Run(path)


def test_a_running_status_without_a_heartbeat_is_failed_whatever_its_pid(quick_run, tiny_dataset, tmp_path):
    """{"state": "running", "pid": 1} used to refuse every new training forever: pid 1 is always alive."""
    stuck = stuck_run(tmp_path, quick_run, state="running", pid=1)
    assert stuck.state == "failed" and "heartbeat: none recorded" in stuck.status["error"]
    old = stuck_run(tmp_path, quick_run, state="running", pid=1, heartbeat=time.time() - 3600)
    assert old.state == "failed" and "heartbeat: none for 3,600 s" in old.status["error"]
    ahead = stuck_run(tmp_path, quick_run, state="starting", pid=os.getpid(), heartbeat=time.time() + 10**9)
    assert ahead.state == "failed" and "dated ahead" in ahead.status["error"]
    alive = stuck_run(tmp_path, quick_run, state="running", pid=os.getpid(), heartbeat=time.time())
    assert alive.state == "running" and runs.active_run(tmp_path) == alive
    alive.update_status(heartbeat=time.time() - runs.HEARTBEAT_TIMEOUT_S - 1)
    assert runs.active_run(tmp_path) is None  # a silent process no longer blocks training
    claimed = training.new_run(training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=1), tmp_path)
    assert claimed.state == "starting"


def test_stop_force_marks_a_stuck_run_failed_and_training_can_start(quick_run, tiny_dataset, tmp_path):
    stuck = stuck_run(tmp_path, quick_run, state="running", pid=1, heartbeat=time.time())
    refused = run_cli("train", "--data", tiny_dataset, "--model", "seed", "--runs-dir", tmp_path, check=False)
    assert refused.returncode == 2 and f"a training is already running: {stuck.id}" in refused.stderr
    asked = run_cli("stop", stuck.id, "--runs-dir", tmp_path)
    assert asked.stdout.strip() == f"asked {stuck.id} to stop after its current batch" and stuck.state == "running"
    forced = run_cli("stop", stuck.id, "--runs-dir", tmp_path, "--force")
    assert forced.stdout.strip() == f"marked {stuck.id} as failed: it no longer blocks a new training"
    assert stuck.state == "failed" and stuck.status["error"].startswith("marked failed by hand")
    assert (stuck.path / runs.STOP).exists() and runs.active_run(tmp_path) is None
    again = run_cli("stop", stuck.id, "--runs-dir", tmp_path)
    assert again.stdout.strip() == f"{stuck.id} is not training (failed); nothing to stop"
