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

from hotdog import data, devices, monitor, runs, worker, workspace

st.set_page_config(page_title="Hotdog or Not", page_icon="🌭", layout="wide")

DATA_PAGE = st.Page("app_pages/data.py", title="Data", icon=":material/folder_open:", url_path="data")
TRAIN_PAGE = st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train")
PREDICT_PAGE = st.Page("app_pages/predict.py", title="Predict", icon=":material/photo_camera:", url_path="predict")
EVALUATE_PAGE = st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate")


def dataset_in_use() -> Path:
    """The dataset everyone uses; on the very first start, draw the demo data here with a progress bar."""
    chosen = workspace.current_dataset()
    if chosen is not None:
        return chosen
    message = "First start: drawing the built-in demo data (synthetic drawings, not photos)…"
    bar = st.progress(0.0, text=message)
    shown = {"percent": -1}

    def advance(fraction: float) -> None:
        if int(fraction * 100) != shown["percent"]:  # a message per percent, not per image
            shown["percent"] = int(fraction * 100)
            bar.progress(fraction, text=message)

    chosen = workspace.use_demo_data(progress=advance)
    bar.empty()
    st.toast("Demo data ready: synthetic drawings of hot dogs and other foods.", icon=":material/palette:")
    return chosen


def home() -> None:
    st.title("Hotdog or Not")
    st.markdown("#### A neural network learns to tell hot dogs from everything else, live in front of the class. "
                "Train it, watch the charts move batch by batch, then show it your own photos.")
    dataset = dataset_in_use()
    run = monitor.run_to_show()
    device, dataset_box, models_box, run_box = st.columns(4, border=True)
    with device:
        st.markdown("**Device**")
        st.markdown(f"### {devices.quick_describe().split(': ', 1)[0]}")
        st.caption(devices.quick_describe().split(": ", 1)[-1])
    with dataset_box:
        st.markdown("**Dataset in use**")
        st.markdown(f"### {dataset.name}")
        counts = data.load_dataset(dataset).counts()
        photos = sum(sum(per_class.values()) for per_class in counts.values())
        st.caption(f"{photos:,} images in {', '.join(counts)} · {dataset}")
    with models_box:
        st.markdown("**Trained models**")
        trained = [r for r in runs.list_runs() if r.has_model()]
        st.markdown(f"### {len(trained)}")
        st.caption("plus ImageNet, no training" if workspace.imagenet_available() else "train one on the Train page")
    with run_box:
        st.markdown("**Latest run**")
        st.markdown(f"### {run.state if run else 'none yet'}")
        st.caption(workspace.run_label(run) if run else "press Start on the Train page")
    if workspace.is_synthetic(dataset):
        st.info("**The dataset in use is the built-in demo data: synthetic drawings** of hot dogs and look-alike "
                "foods, made on this machine, not photos. A model learns them in a minute, but knows nothing about "
                "real photos: choose a real dataset on the Data page, or predict with ImageNet.",
                icon=":material/palette:")
    st.markdown("### Where to next")
    for column, (page, text) in zip(st.columns(4), (
            (DATA_PAGE, "choose photos, see what is in them"),
            (TRAIN_PAGE, "train a network and watch it learn"),
            (PREDICT_PAGE, "your photos: hotdog or not?"),
            (EVALUATE_PAGE, "how good is it really?"))):
        with column.container(border=True):
            st.page_link(page, label=f"**{page.title}**", icon=page.icon, width="stretch")
            st.caption(text)


HOME_PAGE = st.Page(home, title="Home", icon=":material/home:", url_path="home", default=True)
if not st.session_state.get("worker_started"):
    worker.ensure_running()  # TensorFlow loads in the background now, so Start shows a chart within seconds
    st.session_state["worker_started"] = True
st.navigation([HOME_PAGE, DATA_PAGE, TRAIN_PAGE, PREDICT_PAGE, EVALUATE_PAGE], position="top").run()
