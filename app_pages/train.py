"""Train: pick a model and settings, Start a training process, watch it learn live, Stop or Resume it.

Start launches `python -m hotdog train` in its own process; this page only reads the run folder, polling it with a
fragment, so the view survives page switches, refreshes, other tabs and app restarts. One training per server. The
view is worked out once per change of the run folder, for all sessions at once (`monitor.RunsWatcher`): a whole
class can watch.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.common import teacher_button, teacher_unlocked
from hotdog import launch, lessons, monitor, runs, training, workspace
from hotdog.models import get_spec, model_names

#: Seconds between two looks at the run folder while a run trains, and while nothing trains.
POLL_ACTIVE_S, POLL_IDLE_S = 1.0, 5.0
BATCH_SIZES = [8, 16, 32, 64, 128, 256]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
LESSON_ICONS = {"baseline": ":material/balance:", "overfitting": ":material/trending_up:",
                "imbalance": ":material/scale:", "leakage": ":material/content_copy:"}
STATE_BADGES = {"starting": ("starting", "orange"), "running": ("training", "blue"),
                "completed": ("Training completed", "green"), "stopped": ("stopped", "gray"),
                "failed": ("failed", "red")}


def settings_form(dataset) -> training.TrainConfig:
    """The sidebar settings; defaults follow the chosen model (each model keeps its own widget values)."""
    sidebar = st.sidebar
    sidebar.header("Settings")
    model = sidebar.selectbox("Model", model_names(trainable_only=True), key="model",
                              format_func=lambda name: get_spec(name).title)
    spec = get_spec(model)
    sidebar.caption(spec.description)
    epochs = sidebar.number_input("Epochs (passes over the photos)", 1, 1000, spec.epochs, key=f"epochs-{model}")
    image_size = sidebar.number_input("Image size (pixels per side)", 32, 512, spec.image_size, step=8,
                                      key=f"size-{model}")
    more = sidebar.expander("More settings")
    batch_size = more.select_slider("Batch size (photos per step)", sorted({*BATCH_SIZES, spec.batch_size}),
                                    spec.batch_size, key=f"batch-{model}")
    learning_rate = more.select_slider("Learning rate", sorted({*LEARNING_RATES, spec.learning_rate}),
                                       spec.learning_rate, key=f"lr-{model}", format_func=lambda v: f"{v:g}")
    augment = more.checkbox("Augmentation (random flips, turns, zooms)", spec.augment, key=f"augment-{model}")
    balance = more.checkbox("Class weights (count the smaller class more)", True, key=f"weights-{model}")
    early = more.checkbox("Early stopping (when validation loss stops improving)", False, key=f"early-{model}")
    fine_tune = more.number_input("Fine-tuning epochs", 0, 100, 0, key=f"fine-{model}",
                                  help="Extra epochs with the top of the pretrained backbone unfrozen, after the "
                                       "new head has learned.") if spec.transfer else 0
    return training.TrainConfig(data=str(dataset), model=model, epochs=int(epochs), batch_size=int(batch_size),
                                learning_rate=float(learning_rate), image_size=int(image_size),
                                class_weight="auto" if balance else "none", augment=augment,
                                early_stopping=early, fine_tune_epochs=int(fine_tune))


def start(config: training.TrainConfig) -> None:
    try:
        run = launch.start_training_process(config)
        st.session_state["notice"] = ("success", f"Started run {run.id}: the charts appear with the first batch.")
        st.session_state["followed"] = (run.id, True)  # this page already shows it: no extra redraw
    except runs.TrainingBusy as busy:
        st.session_state["notice"] = ("error", f"Not started: {busy}.")
    except (ValueError, OSError) as error:
        st.session_state["notice"] = ("error", f"Not started: {error}")


@st.cache_resource(show_spinner=False)
def runs_watcher(runs_dir: str) -> monitor.RunsWatcher:
    """One watcher per runs folder for the whole server: every session's poll shares its work."""
    return monitor.RunsWatcher(Path(runs_dir))


def watcher() -> monitor.RunsWatcher:
    return runs_watcher(str(runs.default_runs_dir().resolve()))


def show_state(view: monitor.RunView) -> None:
    label, colour = STATE_BADGES.get(view.state, (view.state, "gray"))
    settings = view.settings
    st.markdown(f"### Run `{view.run.id}` :{colour}-badge[{label}]")
    details = [workspace.model_title(settings.get("model")),
               f"{settings['image_size']} px, batch {settings['batch_size']}, learning rate "
               f"{settings['learning_rate']:g}" if {"image_size", "batch_size", "learning_rate"} <= settings.keys()
               else "",
               f"device: {view.status.get('device') or 'starting…'}"]
    st.caption(" · ".join(part for part in details if part))
    if view.run.damage:
        st.warning(f"Damaged run files: {view.run.damage}", icon=":material/warning:")


def show_progress(view: monitor.RunView, unlocked: bool) -> None:
    """Progress bar, ETA, and the buttons that fit the state: Stop while training, Resume after a stop or a crash."""
    run, status, position = view.run, view.status, view.progress
    if view.active:
        if position is None:
            st.progress(0.0, text=f"Getting ready: {status.get('phase') or 'loading TensorFlow'}…")
        else:
            st.progress(position.fraction, text=position.describe())
        if teacher_button("Stopping after this batch…" if view.stop_requested else "Stop", key="stop",
                          unlocked=unlocked, disabled=view.stop_requested, icon=":material/stop_circle:"):
            run.request_stop()
            st.rerun()
    elif view.state == "completed":
        validation = status.get("validation") or {}
        best = status.get("best_val_accuracy")
        summary = f"Best epoch {status.get('best_epoch')}" + (f": validation accuracy {best:.1%}" if best else "")
        if validation.get("majority_baseline") is not None:
            summary += f", against {validation['majority_baseline']:.1%} for always answering the bigger class"
        st.success(f"{summary}. Try it on the Predict page.", icon=":material/check_circle:")
    else:
        done = status.get("epochs_completed", 0)
        if view.state == "failed":
            st.error(f"Training failed: {status.get('error') or 'unknown error'}", icon=":material/error:")
        else:
            st.info(f"Stopped after {done} completed epoch(s); the best model so far is kept.",
                    icon=":material/stop_circle:")
        if teacher_button(f"Resume from epoch {done + 1}", key="resume", unlocked=unlocked,
                          icon=":material/play_arrow:"):
            try:
                launch.resume_training_process(run)
            except (runs.TrainingBusy, ValueError, OSError) as error:
                st.session_state["notice"] = ("error", f"Not resumed: {error}")
            st.rerun()
    if position is not None and view.active:
        st.caption(f"Training for {monitor.format_duration(position.elapsed_s)} in this process.")


def use_class_weights(model: str) -> None:
    st.session_state["model"] = model
    st.session_state[f"weights-{model}"] = True


def show_lessons(view: monitor.RunView) -> None:
    """The lessons the run teaches now, one sentence each (worked out once for every viewer, with the view)."""
    for lesson in view.lessons:
        st.info(lesson.text, icon=LESSON_ICONS.get(lesson.kind, ":material/school:"))
        if lesson.action == lessons.USE_CLASS_WEIGHTS and st.button(
                "Use class weights for the next run", key="use-class-weights", icon=":material/balance:",
                on_click=use_class_weights, args=(view.settings.get("model"),)):
            st.rerun(scope="app")  # the settings live outside this fragment


def show_charts(view: monitor.RunView) -> None:
    """The four charts, as built once for every viewer: drawn as they are, nothing converted per session."""
    if not view.batch_events:
        st.info("The charts appear with the first batch: TensorFlow loads and the photos are decoded first.")
        return
    for kind in ("batch", "epoch"):
        if kind == "epoch" and not view.epoch_events:
            st.caption("Validation loss and accuracy appear after the first epoch.")
            continue
        for column, metric in zip(st.columns(2), monitor.METRICS):
            chart = view.charts[kind, metric]
            column.vega_lite_chart(chart.data, chart.spec, key=f"{kind}-{metric}")


def live_view(unlocked: bool) -> None:
    """Everything about the run being followed, as every session sees it, redrawn on every poll."""
    shared = watcher()
    view = shared.view()
    if view is None:
        st.info("No training yet: choose the settings on the left and press **Start training**.")
        return
    followed = (view.run.id, view.active)
    previous = st.session_state.get("followed")
    st.session_state["followed"] = followed
    if previous is not None and previous != followed:
        st.rerun()  # a run started or ended: redraw the page, which also sets the polling speed
    show_state(view)
    show_progress(view, unlocked)
    show_lessons(view)
    show_charts(view)
    with st.expander("All runs"):
        st.dataframe(shared.table(), hide_index=True,
                     column_config={"best validation accuracy": st.column_config.NumberColumn(format="percent")})


st.title(":material/model_training: Train")
dataset = workspace.current_dataset()
unlocked = teacher_unlocked()
if dataset is None:
    st.warning("No dataset chosen yet: open Home (it draws the demo data) or choose one on the Data page.")
else:
    config = settings_form(dataset)
    if teacher_button("Start training", key="start", unlocked=unlocked, container=st.sidebar, type="primary",
                      icon=":material/rocket_launch:", width="stretch"):
        start(config)
    synthetic = " (synthetic drawings)" if workspace.is_synthetic(dataset) else ""
    st.caption(f"Dataset: **{dataset.name}**{synthetic} · {dataset} · one training at a time on this server")
notice = st.session_state.pop("notice", None)
if notice:
    getattr(st, notice[0])(notice[1])
current = watcher().view()
poll = POLL_ACTIVE_S if current is not None and current.active else POLL_IDLE_S
st.fragment(live_view, run_every=poll)(unlocked)
