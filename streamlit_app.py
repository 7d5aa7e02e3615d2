"""Hotdog or Not, the app: `streamlit run streamlit_app.py`.

This file is the navigation and the Home page; the other pages live in `app_pages/` (not `pages/`, which Streamlit
would also read as a legacy page folder until the navigation first runs). Pages hold widgets, layout and
charts only: everything they compute comes from the `hotdog` library, and training runs in its own process (a
warm worker with TensorFlow already loaded takes it when there is one). The Home page never imports TensorFlow, so
it draws at once.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import classroom
from hotdog import data, devices, monitor, runs, worker, workspace

st.set_page_config(page_title="Hotdog or Not", page_icon="🌭", layout="wide")

DATA_PAGE = st.Page("app_pages/data.py", title="Data", icon=":material/folder_open:", url_path="data")
TRAIN_PAGE = st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train")
PREDICT_PAGE = st.Page("app_pages/predict.py", title="Predict", icon=":material/photo_camera:", url_path="predict")
EVALUATE_PAGE = st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate")
RUNS_PAGE = st.Page("app_pages/runs.py", title="Runs", icon=":material/compare_arrows:", url_path="runs")


def dataset_in_use() -> Path:
    """The dataset everyone uses; on the very first start, draw the demo data here with a progress bar."""
    chosen = workspace.current_dataset()
    if chosen is not None:
        return chosen
    message = "First start: drawing the built-in demo data (synthetic drawings, not photos)…"
    bar = st.progress(0.0, text=message)
    chosen = workspace.use_demo_data(progress=workspace.per_percent(lambda done: bar.progress(done, text=message)))
    bar.empty()
    st.toast("Demo data ready: synthetic drawings of hot dogs and other foods.", icon=":material/palette:")
    return chosen


def status_boxes(dataset: Path) -> None:
    """Status at a glance, big enough to read on a projector: device, dataset, trained models, latest run."""
    run = monitor.run_to_show()
    kind, _, device_name = devices.quick_describe().partition(": ")
    counts = data.load_dataset(dataset).counts()
    photos = sum(sum(per_class.values()) for per_class in counts.values())
    trained = [r for r in runs.list_runs() if r.has_model()]
    boxes = (("Device", kind, device_name),
             ("Dataset in use", dataset.name, f"{photos:,} images in {', '.join(counts)} · {dataset}"),
             ("Trained models", str(len(trained)),
              "plus ImageNet, no training" if workspace.imagenet_available() else "train one on the Train page"),
             ("Latest run", run.state if run else "none yet",
              workspace.run_label(run) if run else "press Start on the Train page"))
    for column, (label, value, detail) in zip(st.columns(4, border=True), boxes):
        with column:
            st.markdown(f"**{label}**")
            st.markdown(f"### {value}")
            st.caption(detail)


def next_steps() -> None:
    st.markdown("### Where to next")
    for column, (page, text) in zip(st.columns(5), (
            (DATA_PAGE, "choose photos, see what is in them"),
            (TRAIN_PAGE, "train a network and watch it learn"),
            (PREDICT_PAGE, "your photos: hotdog or not?"),
            (EVALUATE_PAGE, "how good is it really?"),
            (RUNS_PAGE, "runs side by side, downloads"))):
        with column.container(border=True):
            st.page_link(page, label=f"**{page.title}**", icon=page.icon, width="stretch")
            st.caption(text)


def home() -> None:
    st.title("Hotdog or Not")
    st.markdown("#### A neural network learns to tell hot dogs from everything else, live in front of the class. "
                "Train it, watch the charts move batch by batch, then show it your own photos.")
    dataset = dataset_in_use()
    status_boxes(dataset)
    if workspace.is_synthetic(dataset):
        st.info("**The dataset in use is the built-in demo data: synthetic drawings** of hot dogs and look-alike "
                "foods, made on this machine, not photos. A model learns them in a minute, but knows nothing about "
                "real photos: choose a real dataset on the Data page, or predict with ImageNet.",
                icon=":material/palette:")
    next_steps()
    st.markdown("### Share with the class")
    classroom.share_panel()


HOME_PAGE = st.Page(home, title="Home", icon=":material/home:", url_path="home", default=True)
if not st.session_state.get("data_folder_tidied"):
    workspace.remove_abandoned_work()  # what an import or a download killed mid-way left behind
    st.session_state["data_folder_tidied"] = True
if not st.session_state.get("worker_started"):
    worker.ensure_running()  # TensorFlow loads in the background now, so Start shows a chart within seconds
    st.session_state["worker_started"] = True
navigation = st.navigation([HOME_PAGE, DATA_PAGE, TRAIN_PAGE, PREDICT_PAGE, EVALUATE_PAGE, RUNS_PAGE], position="top")
classroom.frame()
navigation.run()
