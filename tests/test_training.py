"""Training runs for real: subprocesses, run folders, stop, refusal, resume, reproducibility."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from conftest import last_json, make_dataset, run_cli
from hotdog import launch, runs, training


def wait_for(predicate, timeout: float = 180, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def events(run_dir: Path, kind: str) -> list[dict]:
    return [event for event in runs.Run(run_dir).metrics() if event["event"] == kind]


@pytest.mark.slow
def test_cli_run_leaves_a_complete_record(trained_run, demo_dataset):
    batches, epochs = events(trained_run, "batch"), events(trained_run, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert {1, 2, 3, 4} <= {e["epoch"] for e in batches} and len(batches) >= 8
    for event in batches + epochs:
        assert {"epoch", "step", "steps", "loss", "accuracy", "time"} <= event.keys()
    assert all({"val_loss", "val_accuracy"} <= e.keys() for e in epochs)
    assert batches[0]["step"] == 1 and epochs[-1]["step"] == epochs[-1]["steps"]

    status = json.loads((trained_run / runs.STATUS).read_text())
    assert status["state"] == "completed" and status["device"].startswith("CPU")
    assert {"started_at", "ended_at", "pid"} <= status.keys()
    config = json.loads((trained_run / runs.CONFIG).read_text())
    assert config["settings"]["model"] == "seed" and config["settings"]["epochs"] == 4
    assert config["dataset"]["path"] == str(demo_dataset.resolve()) and len(config["dataset"]["fingerprint"]) == 64
    assert config["dataset"]["counts"]["train"]["hotdog"] > 0 and config["versions"]["tensorflow"]
    run = runs.Run(trained_run)
    assert run.settings == config["settings"] and run.dataset_path == demo_dataset.resolve()
    assert run.dataset_splits == list(config["dataset"]["counts"]) and "test" in run.dataset_splits
    assert (trained_run / runs.BEST_MODEL).stat().st_size > 1_000_000
    assert any((trained_run / runs.TENSORBOARD).rglob("events.out.tfevents*"))


@pytest.mark.slow
def test_trained_model_reloads_and_learns_the_demo_data(trained_run, demo_dataset):
    result = last_json(run_cli("evaluate", trained_run, "--data", demo_dataset, "--split", "validation",
                               "--json").stdout)
    assert result["accuracy"] >= 0.85, result  # four epochs of the seed model on the synthetic photos


@pytest.mark.slow
def test_stop_file_ends_the_run_and_keeps_the_best_model(tiny_dataset, tmp_path):
    run = launch.start_training_process(training.TrainConfig(
        data=str(tiny_dataset), model="seed", epochs=200, batch_size=4, image_size=48), tmp_path)
    wait_for(lambda: events(run.path, "epoch"), what="first epoch")
    assert not run.stop_requested
    run.request_stop()
    assert run.stop_requested
    wait_for(lambda: run.state == "stopped", what="stopped state")
    assert run.has_model() and len(events(run.path, "epoch")) < 200
    assert not runs.pid_alive(run.status["pid"]) or wait_for(lambda: not runs.pid_alive(run.status["pid"]), 30)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="Windows has no SIGTERM between processes; the STOP file stops runs")
def test_sigterm_stops_after_the_current_batch(tiny_dataset, tmp_path):
    run = launch.start_training_process(training.TrainConfig(
        data=str(tiny_dataset), model="seed", epochs=200, batch_size=4, image_size=48), tmp_path)
    wait_for(lambda: events(run.path, "epoch"), what="first epoch")
    os.kill(run.status["pid"], signal.SIGTERM)
    wait_for(lambda: run.state == "stopped", what="stopped state")
    assert run.has_model()


@pytest.mark.slow
def test_second_start_is_refused_while_one_runs(tiny_dataset, tmp_path):
    config = training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=200, batch_size=4, image_size=48)
    first = launch.start_training_process(config, tmp_path)
    try:
        with pytest.raises(runs.TrainingBusy, match=first.id):
            launch.start_training_process(config, tmp_path)
        refused = run_cli("train", "--data", tiny_dataset, "--model", "seed", "--runs-dir", tmp_path, check=False)
        assert refused.returncode == 2 and first.id in refused.stderr
    finally:
        first.request_stop()
        wait_for(lambda: first.state in ("stopped", "completed"), what="first run to stop")
    assert len(runs.list_runs(tmp_path)) == 1


@pytest.mark.slow
def test_killed_run_shows_failed_and_resumes_with_its_history(tiny_dataset, tmp_path):
    run = launch.start_training_process(training.TrainConfig(
        data=str(tiny_dataset), model="seed", epochs=4, batch_size=2, image_size=48), tmp_path)
    wait_for(lambda: run.status.get("epochs_completed", 0) >= 1, what="a checkpointed epoch")
    psutil.Process(run.status["pid"]).kill()
    wait_for(lambda: run.state == "failed", timeout=30, what="failed state")
    assert "died" in run.status["error"] and (run.path / runs.LAST_MODEL).exists()
    done = run.status["epochs_completed"]
    history = [e for e in events(run.path, "epoch") if e["epoch"] <= done]

    summary = last_json(run_cli("train", "--resume", run.path, "--json").stdout)

    assert summary["state"] == "completed"
    epochs = events(run.path, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert epochs[:done] == history  # the history before the kill is intact


@pytest.mark.slow
def test_unreadable_photos_are_skipped_and_recorded(tmp_path):
    root = make_dataset(tmp_path / "ds", {"train": 6, "validation": 2})
    (root / "train" / "hotdog" / "text.jpg").write_text("this is not a photo")
    summary = last_json(run_cli("train", "--data", root, "--model", "seed", "--epochs", "1", "--image-size", "40",
                                "--runs-dir", tmp_path / "runs", "--json").stdout)
    assert summary["state"] == "completed"
    config = runs.Run(Path(summary["run"])).config
    assert [u["path"] for u in config["dataset"]["unreadable"]] == [str(root / "train" / "hotdog" / "text.jpg")]
    assert config["dataset"]["used"]["train"] == {"hotdog": 6, "nohotdog": 6}


def test_bad_settings_get_a_clear_message(tiny_dataset, tmp_path):
    result = run_cli("train", "--data", tmp_path / "nowhere", "--model", "seed", "--runs-dir", tmp_path, check=False)
    assert result.returncode == 2 and "nowhere is not a folder" in result.stderr
    assert runs.list_runs(tmp_path) == []  # nothing to clean up after a typo
    result = run_cli("train", "--data", tiny_dataset, "--model", "seed", "--epochs", "0", "--runs-dir", tmp_path,
                     check=False)
    assert result.returncode == 2 and "epochs must be at least 1" in result.stderr


@pytest.mark.slow
def test_same_seed_same_run_on_cpu(tiny_dataset, tmp_path):
    def losses(folder: str) -> list[float]:
        summary = last_json(run_cli("train", "--data", tiny_dataset, "--model", "cnn", "--epochs", "1",
                                    "--image-size", "32", "--batch-size", "8", "--seed", "7",
                                    "--runs-dir", tmp_path / folder, "--json").stdout)
        return [e["loss"] for e in events(Path(summary["run"]), "batch")]

    assert losses("a") == losses("b")


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_devices(tiny_dataset, tmp_path):
    summary = last_json(run_cli("train", "--data", tiny_dataset, "--model", "seed", "--epochs", "1",
                                "--image-size", "40", "--batch-size", "8", "--runs-dir", tmp_path, "--json",
                                env={"HOTDOG_CPU_REPLICAS": "2"}).stdout)
    assert summary["state"] == "completed"
    assert "mirrored over 2 replicas" in runs.Run(Path(summary["run"])).status["device"]
