"""Runs side by side: real runs trained here, their curves and table, an evaluation's column, rename and delete."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from hotdog import charts, compare, evaluate, runs, training

#: Every test here reads runs trained for real for it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> list[runs.Run]:
    """Two real runs of the seed model with different settings; the second is scored on its test split."""
    folder = tmp_path_factory.mktemp("compare-runs")
    trained = []
    for epochs, learning_rate in ((2, 1e-3), (3, 3e-4)):
        run = training.new_run(training.TrainConfig(data=str(tiny_dataset), model="seed", epochs=epochs,
                                                    image_size=48, batch_size=8, learning_rate=learning_rate), folder)
        training.train(run, verbose=0)
        trained.append(run)
    evaluate.evaluate(trained[1].path, tiny_dataset, "test")
    return trained


def test_validation_curves_hold_every_completed_epoch_of_every_run(two_runs):
    curves = compare.validation_curves(two_runs)
    for run, epochs in zip(two_runs, (2, 3)):
        mine = [row for row in curves if row["run"] == run.id]
        assert sorted((row["metric"], row["epoch"]) for row in mine) == \
            sorted((metric, epoch) for metric in ("accuracy", "loss") for epoch in range(1, epochs + 1))
    spec = charts.comparison_chart(curves, "accuracy").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert {row["run"] for row in rows} == {run.id for run in two_runs}
    assert {row["metric"] for row in rows} == {"accuracy"}


def test_the_table_has_settings_final_metrics_and_each_evaluated_folder(two_runs, tiny_dataset: Path):
    rows = compare.table(two_runs)
    assert [row["run"] for row in rows] == [run.id for run in two_runs]
    assert [row["learning rate"] for row in rows] == [1e-3, 3e-4]
    assert [row["epochs"] for row in rows] == ["2/2", "3/3"]
    assert all(0 <= row["validation balanced accuracy"] <= 1 and row["best epoch"] >= 1 for row in rows)
    column = f"{tiny_dataset.name}, test split: balanced accuracy"
    assert rows[0][column] is None  # the first run was never scored on test: an empty cell, not a missing column
    saved = evaluate.load_evaluation(two_runs[1].path, tiny_dataset, "test")
    assert rows[1][column] == saved.metrics()["balanced_accuracy"]
    assert list(rows[0]) == list(rows[1])


def copy_of(run: runs.Run, folder: Path) -> runs.Run:
    return runs.Run(Path(shutil.copytree(run.path, folder / run.id)))


def test_rename_keeps_the_start_time_and_the_tag(two_runs, tmp_path: Path):
    run = copy_of(two_runs[0], tmp_path)
    renamed = runs.rename_run(run, "best one, so far!")
    stamp, tag = run.id[:15], run.id[-4:]
    assert renamed.id == f"{stamp}-best-one-so-far-{tag}"
    assert not run.path.exists() and renamed.has_model() and len(renamed.metrics()) > 0
    assert [listed.id for listed in runs.list_runs(tmp_path)] == [renamed.id]
    with pytest.raises(ValueError, match="needs a letter or a digit"):
        runs.rename_run(renamed, " !! ")
    (tmp_path / f"{stamp}-taken-{tag}").mkdir()
    with pytest.raises(ValueError, match="already a run called"):
        runs.rename_run(renamed, "taken")
    assert renamed.path.is_dir()


def training_now(run: runs.Run) -> runs.Run:
    """A run whose status says it trains in a live process (this one), with a fresh heartbeat."""
    run.update_status(state="running", pid=os.getpid(), heartbeat=time.time())
    return run


def test_a_training_run_is_neither_renamed_nor_deleted(two_runs, tmp_path: Path):
    run = training_now(copy_of(two_runs[0], tmp_path))
    with pytest.raises(runs.RunBusy, match="stop it before it can be renamed"):
        runs.rename_run(run, "new")
    with pytest.raises(runs.RunBusy, match="stop it before it can be deleted"):
        runs.delete_run(run)
    assert run.path.is_dir() and run.has_model()


def test_delete_removes_the_whole_folder_and_never_lists_it_half_deleted(two_runs, tmp_path: Path):
    keep, doomed = copy_of(two_runs[0], tmp_path), copy_of(two_runs[1], tmp_path)
    runs.delete_run(doomed)
    assert not doomed.path.exists()
    assert [run.id for run in runs.list_runs(tmp_path)] == [keep.id]
    assert not any(tmp_path.glob(".deleting-*"))
    shutil.copytree(keep.path, tmp_path / f".deleting-{keep.id}")  # what a crash mid-delete would leave
    assert [run.id for run in runs.list_runs(tmp_path)] == [keep.id]
    with pytest.raises(FileNotFoundError):
        runs.delete_run(doomed)
