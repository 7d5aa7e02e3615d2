"""Many users at once: simultaneous Start presses, one shared Classifier, many readers of one live run."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import zipfile
from pathlib import Path

import psutil
import pytest

import hostile
from conftest import in_threads
from hotdog import launch, monitor, runs, training
from hotdog.predict import Classifier
from test_training import wait_for

pytestmark = pytest.mark.timeout(150, func_only=True)  # shared fixtures are not counted
START_PRESSES = 4


def press_start(barrier, answers, data: str, runs_dir: str) -> None:
    """One browser session pressing Start: in its own process, released at the same moment as the others."""
    config = training.TrainConfig(data=data, model="seed", epochs=200, batch_size=4, image_size=32)
    barrier.wait()
    try:
        run = launch.start_training_process(config, Path(runs_dir))
        answers.put(("started", run.id, ""))
    except runs.TrainingBusy as busy:
        answers.put(("busy", busy.run.id, str(busy)))


@pytest.mark.slow
@pytest.mark.timeout(400, func_only=True)  # four fresh interpreters importing the app's modules on a busy machine
def test_start_pressed_in_several_processes_at_once_starts_exactly_one_run(tiny_dataset, tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(START_PRESSES), context.Queue()
    presses = [context.Process(target=press_start, args=(barrier, answers, str(tiny_dataset), str(tmp_path)))
               for _ in range(START_PRESSES)]
    for process in presses:
        process.start()
    results = [answers.get(timeout=300) for _ in presses]  # the last of them waited for the barrier too
    for process in presses:
        process.join(timeout=30)
    (started,) = [run_id for outcome, run_id, _ in results if outcome == "started"]
    try:
        refused = [(run_id, message) for outcome, run_id, message in results if outcome == "busy"]
        assert len(refused) == START_PRESSES - 1
        assert all(run_id == started and f"a training is already running: {started}" in message
                   for run_id, message in refused)
        assert [run.id for run in runs.list_runs(tmp_path)] == [started]
    finally:
        run = runs.find_run(started, tmp_path)
        psutil.Process(run.status["pid"]).kill()
        wait_for(lambda: not runs.pid_alive(run.status["pid"]), timeout=30, what="the run to end")


def test_twenty_threads_sharing_one_classifier_all_get_the_single_threaded_answers(seed_model_file, tmp_path):
    classifier = Classifier.load(seed_model_file)
    photos = [hostile.encoded(hostile.picture(64 + seed, 48 + seed, seed), "JPEG") for seed in range(20)]
    photos[7] = b"not a photo"
    alone = classifier.predict(photos)
    start, answers, failures = threading.Barrier(20), {}, []

    def ask(index: int) -> None:
        start.wait()
        try:  # each thread asks about a different number of photos: batches of every size at once
            answers[index] = classifier.predict(photos[:index + 1])
        except Exception as error:  # noqa: BLE001 - any exception is the failure this test looks for
            failures.append(repr(error))

    in_threads(ask, 20, timeout=60)

    assert not failures and len(answers) == 20
    for index, verdicts in answers.items():
        assert [v.error for v in verdicts] == [v.error for v in alone[:index + 1]]
        assert [v.verdict for v in verdicts] == [v.verdict for v in alone[:index + 1]]
        for verdict, expected in zip(verdicts, alone):
            assert verdict.p_hotdog == pytest.approx(expected.p_hotdog, abs=1e-6)


def test_status_updates_from_many_threads_lose_no_field(tmp_path):
    """The heartbeat thread and the training thread (and the app) all write status.json."""
    run = runs.Run(tmp_path)
    start, failures = threading.Barrier(8), []

    def update(writer: int) -> None:
        start.wait()
        try:
            for count in range(25):
                run.update_status(**{f"writer{writer}": count})
        except OSError as error:
            failures.append(repr(error))

    in_threads(update, 8)
    assert not failures
    assert runs.read_json(tmp_path / runs.STATUS) == {f"writer{writer}": 24 for writer in range(8)}
    assert sorted(path.name for path in tmp_path.iterdir()) == [runs.STATUS_LOCK, runs.STATUS]


def whole_records(text: str) -> list[dict]:
    """Every line that ends in a newline must be a whole JSON record; only an unfinished last line may not be."""
    *complete, _unfinished = text.split("\n")
    return [json.loads(line) for line in complete]


def watch(run: runs.Run, done: threading.Event, seen: list, failures: list) -> None:
    """One browser session reading the run as fast as it can: whole files only, metrics only ever growing."""
    try:
        while True:
            last_pass = done.is_set()
            for name in (runs.STATUS, runs.CONFIG):
                json.loads((run.path / name).read_text())  # atomic: never half a file
            for name in (runs.BEST_MODEL, runs.LAST_MODEL):
                with contextlib.suppress(FileNotFoundError):
                    with zipfile.ZipFile(run.path / name) as archive:
                        assert archive.testzip() is None
            records = whole_records((run.path / runs.METRICS).read_text())
            assert records[:len(seen)] == seen, "a reader saw the metrics change behind it"
            seen[:] = records
            assert run.metrics()[:len(records)] == records  # the library's reader, a moment later
            if last_pass:
                return
    except Exception as error:  # noqa: BLE001 - reported by the test
        failures.append(repr(error))


@pytest.mark.slow
def test_readers_of_a_live_run_see_whole_files_and_the_same_growing_metrics(tiny_dataset, tmp_path):
    run = launch.start_training_process(training.TrainConfig(
        data=str(tiny_dataset), model="seed", epochs=3, batch_size=2, image_size=32), tmp_path)
    wait_for(lambda: (run.path / runs.METRICS).exists(), what="the first metrics")
    done, failures = threading.Event(), []
    seen = [[] for _ in range(4)]
    readers = [threading.Thread(target=watch, args=(run, done, seen[i], failures)) for i in range(4)]
    for reader in readers:
        reader.start()
    wait_for(lambda: run.state not in runs.ACTIVE_STATES or failures, timeout=120, what="the run to end")
    done.set()
    for reader in readers:
        reader.join(timeout=30)

    assert not failures and run.state == "completed"
    final = run.metrics()
    assert len([e for e in final if e["event"] == "batch"]) >= 30
    assert all(view == final for view in seen)
    drawn = [monitor.TrainingHistory.from_events(view).charts()["batch", "loss"] for view in seen]
    assert all(chart.spec == drawn[0].spec and chart.data.equals(drawn[0].data) for chart in drawn)  # the same chart
    assert not [path.name for path in run.path.iterdir() if "tmp" in path.name]
