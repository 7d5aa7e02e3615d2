"""The Train page: Start launches a real training process, the charts fill from its run folder, Stop and Resume
work, a second Start is refused, and the teacher password guards all three."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import runs, workspace

PAGE = str(REPO / "app_pages" / "train.py")


def fresh_app(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh runs folder and `dataset` in use; returns the runs folder."""
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("HOTDOG_TEACHER_PASSWORD", raising=False)
    workspace.use_dataset(dataset)
    return tmp_path / "runs"


@pytest.fixture
def app_env(demo_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo data in use, for runs that train: a fresh runs folder."""
    return fresh_app(demo_dataset, tmp_path, monkeypatch)


def open_page(epochs: int, secrets: dict | None = None) -> AppTest:
    """The Train page with a short run set up: the seed model on 48-pixel images."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.secrets.update(secrets or {})
    at.run()
    at.selectbox(key="model").set_value("seed").run()
    at.number_input(key="epochs-seed").set_value(epochs)
    at.number_input(key="size-seed").set_value(48)
    return at.run()


def chart_points(at: AppTest) -> dict[str, int]:
    """Rows of data behind each chart on the page, by chart title."""
    points = {}
    for chart in at.get("vega_lite_chart"):
        title = json.loads(chart.proto.spec)["title"]
        tables = [chart.proto.data.data, *(dataset.data.data for dataset in chart.proto.datasets)]
        points[title] = sum(len(dataframe_util.convert_arrow_bytes_to_pandas_df(table)) for table in tables if table)
    return points


def rerun_until(at: AppTest, condition, timeout: float = 240, what: str = "condition") -> AppTest:
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        assert not at.exception, at.exception
        if condition(at):
            return at
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; page says {[m.value for m in at.markdown]}")


def has_button(at: AppTest, key: str) -> bool:
    return any(button.key == key for button in at.button)


def badge(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("### Run"))


@pytest.mark.slow
def test_start_draws_live_charts_until_completed_and_refuses_a_second_start(app_env):
    at = open_page(epochs=2)
    assert "No training yet" in at.info[0].value
    at.button(key="start").click().run()
    assert at.success and at.success[0].value.startswith("Started run")
    [run] = runs.list_runs(app_env)
    assert run.config["settings"]["model"] == "seed" and run.config["settings"]["image_size"] == 48

    at.button(key="start").click().run()  # while the first one trains
    assert f"a training is already running: {run.id}" in at.error[0].value
    assert len(runs.list_runs(app_env)) == 1

    rerun_until(at, lambda at: chart_points(at).get("Loss (lower is better), per batch"), what="the first chart")
    assert at.get("progress") or "Training completed" in badge(at)
    rerun_until(at, lambda at: "Training completed" in badge(at), what="the completed state")
    points = chart_points(at)
    batches = [e for e in run.metrics() if e["event"] == "batch"]
    assert points["Loss (lower is better), per batch"] == len(batches)
    assert points["Accuracy, per epoch"] == 4  # train and validation for 2 epochs
    accuracy = next(spec for spec in (json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart"))
                    if spec["title"] == "Accuracy, per epoch")
    assert any(layer["mark"].get("text", "").startswith("always the bigger class") for layer in accuracy["layer"])
    assert "validation accuracy" in at.success[0].value and run.state == "completed"
    assert run.id in badge(at)


@pytest.mark.slow
def test_stop_then_resume_continue_the_same_run(app_env):
    at = open_page(epochs=500)
    at.button(key="start").click().run()
    [run] = runs.list_runs(app_env)
    rerun_until(at, lambda at: any(e["event"] == "batch" for e in run.metrics()), what="the first batch")
    at.button(key="stop").click().run()
    rerun_until(at, lambda at: run.state == "stopped" and has_button(at, "resume"), what="the stopped state")
    assert "Stopped after" in at.info[0].value
    at.button(key="resume").click().run()
    rerun_until(at, lambda at: run.state == "running" and has_button(at, "stop"), what="the resumed run")
    assert runs.list_runs(app_env) == [run]  # the same run folder continues
    at.button(key="stop").click().run()
    rerun_until(at, lambda at: run.state == "stopped", what="the second stop")
    assert len(runs.list_runs(app_env)) == 1


def test_teacher_password_guards_start(tiny_dataset, tmp_path, monkeypatch):
    app_env = fresh_app(tiny_dataset, tmp_path, monkeypatch)
    at = open_page(epochs=1, secrets={"teacher_password": "mustard"})
    assert at.button(key="start").disabled
    at.text_input(key="teacher_password").input("ketchup").run()
    assert at.button(key="start").disabled and any("Enter the teacher password" in c.value for c in at.sidebar.caption)
    at.text_input(key="teacher_password").input("mustard").run()
    assert not at.button(key="start").disabled
    assert runs.list_runs(app_env) == []


def test_lessons_are_written_and_marked_and_class_weights_are_one_click_away(app_env, quick_run: Path):
    """A finished run (copied from a real one) whose history overfits, trained without class weights on three
    times more nohotdogs than hotdogs."""
    run = runs.Run(Path(shutil.copytree(quick_run, app_env / quick_run.name)))
    config = run.config
    config["settings"]["class_weight"] = "none"
    config["dataset"]["used"]["train"] = {"hotdog": 40, "nohotdog": 120}
    (run.path / runs.CONFIG).write_text(json.dumps(config))
    losses = [(0.6, 0.5), (0.4, 0.3), (0.3, 0.4), (0.2, 0.5), (0.1, 0.6)]
    events = [event for number, (loss, val_loss) in enumerate(losses, start=1) for event in (
        {"event": "batch", "epoch": number, "epochs": 5, "step": 3, "steps": 3, "global_step": 3 * number,
         "loss": loss, "accuracy": 0.8, "elapsed": float(number)},
        {"event": "epoch", "epoch": number, "epochs": 5, "step": 3, "steps": 3, "global_step": 3 * number,
         "loss": loss, "accuracy": 0.8, "val_loss": val_loss, "val_accuracy": 0.8, "elapsed": float(number)})]
    (run.path / runs.METRICS).write_text("".join(json.dumps(event) + "\n" for event in events))

    at = open_page(epochs=1)
    texts = [box.value for box in at.info]
    assert any(text.startswith("Overfitting: after epoch 2, validation loss rose for 3 epochs") for text in texts)
    assert any(text.startswith("Unbalanced classes: 120 nohotdog training photos against 40 hotdog") for text in texts)
    loss_chart = next(json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")
                      if json.loads(chart.proto.spec)["title"] == "Loss (lower is better), per epoch")
    assert any(layer["mark"].get("type") == "rule" and layer["mark"].get("color") == "#8e44ad"
               for layer in loss_chart["layer"])

    at.checkbox(key="weights-seed").uncheck().run()
    at.button(key="use-class-weights").click().run()
    assert not at.exception
    assert at.selectbox(key="model").value == "seed" and at.checkbox(key="weights-seed").value is True
