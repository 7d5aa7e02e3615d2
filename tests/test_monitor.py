"""The Train page's live view, in the library: progress and ETA, bounded training charts, metrics.jsonl read
incrementally (half-written lines, rewrites, a new run), and one view per change shared by every session."""

from __future__ import annotations

import gc
import json
import math
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import charts, monitor, runs, training


def batch(epoch: int, step: int, elapsed: float, steps: int = 10, epochs: int = 4, **metrics) -> dict:
    """A batch event as training's MetricsLogger writes it."""
    return {"event": "batch", "epoch": epoch, "epochs": epochs, "step": step, "steps": steps,
            "global_step": (epoch - 1) * steps + step, "elapsed": elapsed, "time": 1e9 + elapsed,
            "loss": 0.5, "accuracy": 0.7, **metrics}


def epoch_end(epoch: int, steps: int = 10, epochs: int = 4, **metrics) -> dict:
    return {"event": "epoch", "epoch": epoch, "epochs": epochs, "step": steps, "steps": steps,
            "global_step": epoch * steps, "elapsed": float(epoch), "loss": 0.4, "accuracy": 0.8, "val_loss": 0.45,
            "val_accuracy": 0.75, **metrics}


def long_run(epochs: int, steps: int) -> list[dict]:
    """`epochs` epochs of `steps` batch events each, with a falling loss, then each epoch's own event."""
    events = []
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            global_step = (epoch - 1) * steps + step
            events.append(batch(epoch, step, global_step * 0.01, steps, epochs, loss=1.0 / math.sqrt(global_step),
                                accuracy=min(0.99, 0.5 + global_step / (2 * steps * epochs))))
        events.append(epoch_end(epoch, steps, epochs, val_loss=1.0 / epoch))
    return events


def lines(events: list[dict]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def append(path: Path, text: str) -> None:
    with open(path, "a") as handle:
        handle.write(text)


def new_run(runs_dir: Path, run_id: str) -> runs.Run:
    """A run folder claimed by this process, so it counts as training while the test runs."""
    settings = {"model": "seed", "epochs": 4, "image_size": 48, "batch_size": 8, "learning_rate": 0.001}
    return runs.claim_run(runs_dir, run_id, {"settings": settings,
                                             "dataset": {"majority_baseline": {"validation": 0.6}}})


def test_progress_and_eta_count_only_the_current_process():
    assert monitor.TrainingHistory().progress() is None
    first = [batch(1, 5, elapsed=10.0), batch(1, 10, elapsed=20.0)]
    position = monitor.TrainingHistory.from_events(first).progress()
    assert (position.epoch, position.step, position.fraction) == (1, 10, 0.25)
    assert position.eta_s == pytest.approx(60.0)  # 2 s per step, 30 steps left
    assert position.describe() == "Epoch 1/4 · step 10/10 · about 1 min 00 s left"
    # Resumed at epoch 3 after a restart: the clock starts again, 10 steps took 5 s.
    resumed = first + [batch(3, 10, elapsed=5.0)]
    assert monitor.TrainingHistory.from_events(resumed).progress().eta_s == pytest.approx(5.0)


def test_durations_read_naturally():
    assert [monitor.format_duration(s) for s in (4.4, 65, 3720)] == ["4 s", "1 min 05 s", "1 h 02 min"]


def test_training_charts_hold_train_validation_and_the_baseline():
    history = monitor.TrainingHistory.from_events([batch(1, 5, 1.0), batch(1, 10, 2.0, loss=0.3), epoch_end(1)])
    drawn = history.charts(baseline=0.87)
    assert drawn["batch", "loss"].data.to_pydict() == {"x": [5.0, 10.0], "value": [0.5, 0.3], "low": [0.5, 0.3],
                                                       "high": [0.5, 0.3]}
    epoch = drawn["epoch", "accuracy"].data.to_pydict()
    assert set(zip(epoch["split"], epoch["value"])) == {("train", 0.8), ("validation", 0.75)}
    spec = drawn["epoch", "accuracy"].spec
    assert spec["title"] == "Accuracy, per epoch" and spec["config"]["axis"]["labelFontSize"] == charts.LABEL_FONT
    assert any(layer["mark"].get("text") == "always the bigger class: 87%" for layer in spec["layer"])
    assert not any("text" in layer["mark"] for layer in drawn["epoch", "loss"].spec["layer"])


def test_twenty_thousand_batches_draw_bounded_charts(tmp_path):
    events = long_run(epochs=1000, steps=20)
    spike = next(e for e in events if e.get("global_step") == 12_345 and e["event"] == "batch")
    spike["loss"] = 9.0  # one bad batch: the band keeps it, the mean smooths it
    (tmp_path / runs.METRICS).write_text(lines(events))
    log = monitor.MetricsLog(tmp_path / runs.METRICS)
    log.read()
    assert log.history.batch_count == 20_000 and len(log.history.epochs) == 1000
    drawn = log.history.charts(baseline=0.5)
    curve = drawn["batch", "loss"].data.to_pydict()
    assert charts.MAX_BATCH_POINTS // 2 < len(curve["x"]) <= charts.MAX_BATCH_POINTS
    assert curve["x"] == sorted(curve["x"]) and curve["x"][0] < 200 and curve["x"][-1] > 19_900
    assert all(low <= mean <= high for low, mean, high in zip(curve["low"], curve["value"], curve["high"]))
    assert max(curve["high"]) == 9.0 and max(curve["value"]) < 2.0
    assert drawn["epoch", "loss"].data.num_rows == 2000  # every epoch, train and validation
    for metric in monitor.METRICS:  # what each poll sends for a batch curve stays small however long the run
        chart = drawn["batch", metric]
        assert len(json.dumps(chart.spec)) < 5_000 and chart.data.nbytes <= 32 * charts.MAX_BATCH_POINTS


def test_metrics_log_reads_only_new_complete_lines(tmp_path):
    path = tmp_path / runs.METRICS
    log = monitor.MetricsLog(path)
    assert not log.read() and log.history.batch_count == 0  # no file yet
    path.write_text(lines([batch(1, 1, 1.0), batch(1, 2, 2.0)]))
    assert log.read() and log.history.batch_count == 2 and log.offset == path.stat().st_size
    half = json.dumps(batch(1, 3, 3.0))
    append(path, half[:25])  # the training process is in the middle of writing a line
    assert not log.read() and log.history.batch_count == 2 and log.offset < path.stat().st_size
    append(path, half[25:] + "\n" + "{not json\n")  # the line completed, then a damaged one
    assert log.read() and log.history.batch_count == 3
    assert log.history.last_batch["step"] == 3 and log.offset == path.stat().st_size
    assert not log.read()  # nothing new: nothing parsed again


def test_metrics_log_starts_over_when_the_file_is_truncated_or_rewritten(tmp_path):
    path = tmp_path / runs.METRICS
    path.write_text(lines(long_run(epochs=3, steps=10)))
    log = monitor.MetricsLog(path)
    log.read()
    assert (log.history.batch_count, len(log.history.epochs)) == (30, 3)
    path.write_text(lines([batch(1, 1, 1.0)]))  # truncated in place
    assert log.read() and log.history.batch_count == 1 and not log.history.epochs
    rewritten = long_run(epochs=2, steps=10)
    for event in rewritten:
        event["loss"] = 0.25
    path.write_text(lines(rewritten))  # the same file, rewritten longer than before: not mistaken for an append
    assert log.read() and log.history.batch_count == 20 and set(log.history.batch_values["loss"]) == {0.25}


def test_metrics_log_follows_a_resume_that_rewrites_the_file(tmp_path):
    run = new_run(tmp_path, "resumed")
    path = run.path / runs.METRICS
    path.write_text(lines(long_run(epochs=3, steps=10)[:-4]))  # stopped in epoch 3
    log = monitor.MetricsLog(path)
    log.read()
    training._drop_events_after(run, 2)  # what a resume does before training epoch 3 again
    append(path, lines([batch(3, 1, 0.1, epochs=3)]))  # the new process: its clock starts again
    assert log.read()
    assert log.history.batch_count == 21 and len(log.history.epochs) == 2
    assert log.history.progress().eta_s == pytest.approx(0.1 * 9)  # the resumed process's own pace


def test_the_shared_view_is_built_once_per_change_for_every_session(tmp_path):
    run = new_run(tmp_path, "watched")
    append(run.path / runs.METRICS, lines(long_run(epochs=1, steps=10)[:5]))
    watcher = monitor.RunsWatcher(tmp_path)
    seen: list[monitor.RunView] = []

    def session() -> None:
        for _ in range(50):
            seen.append(watcher.view())

    sessions = [threading.Thread(target=session) for _ in range(8)]
    for thread in sessions:
        thread.start()
    for thread in sessions:
        thread.join()
    followed = watcher.followed()
    assert len(seen) == 400 and all(view is seen[0] for view in seen)
    assert followed.builds == 1 and seen[0].batch_events == 5 and seen[0].active
    append(run.path / runs.METRICS, lines([batch(1, 6, 0.06)]))
    views = [watcher.view() for _ in range(20)]
    assert followed.builds == 2 and all(view is views[0] for view in views) and views[0].batch_events == 6
    run.request_stop()  # STOP appears: a change of the folder, seen at once
    assert watcher.view().stop_requested and followed.builds == 3


def test_a_new_run_and_a_dead_process_show_at_once_or_within_a_recheck(tmp_path):
    watcher = monitor.RunsWatcher(tmp_path)
    assert watcher.view() is None and watcher.table().num_rows == 0
    first = new_run(tmp_path, "20260101-000000-first")
    assert watcher.view().run == first  # a new folder in the runs folder: looked at again at once
    first.update_status(state="completed")
    second = new_run(tmp_path, "20260101-000001-second")
    append(second.path / runs.METRICS, lines([batch(1, 1, 1.0)]))
    view = watcher.view()
    assert view.run == second and view.batch_events == 1 and view.active
    assert watcher.table().column("run").to_pylist() == [second.id, first.id]
    second.update_status(pid=2**22 + 1)  # no such process: the training died without a word
    time.sleep(monitor.RECHECK_S)
    assert watcher.view().state == "failed"


@pytest.mark.slow
def test_train_page_sessions_share_one_watcher_and_one_view(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    run = new_run(tmp_path / "runs", "20260101-000000-class")
    append(run.path / runs.METRICS, lines(long_run(epochs=2, steps=10)))
    sessions = [AppTest.from_file(str(REPO / "app_pages" / "train.py"), default_timeout=60) for _ in range(3)]
    for _ in range(2):
        for at in sessions:
            at.run()
            assert not at.exception, at.exception
            assert len(at.get("vega_lite_chart")) == 4
    watchers = [obj for obj in gc.get_objects() if isinstance(obj, monitor.RunsWatcher)
                and obj.runs_dir == (tmp_path / "runs").resolve()]
    assert len(watchers) == 1 and watchers[0].followed().builds == 1
    specs = {tuple(chart.proto.spec for chart in at.get("vega_lite_chart")) for at in sessions}
    assert len(specs) == 1  # every session drew the same charts
