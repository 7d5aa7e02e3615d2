"""Data: choose the dataset everyone trains on, and see what is in it before training.

Choices: the built-in demo data, a folder on the server (allowed folders only), an uploaded zip or photos per class
(checked and unpacked into a new folder of the app's data folder), photos taken with the camera one by one into a
new dataset, or the classic hot-dog dataset downloaded with its checksum checked. The choice is saved on disk, so
every viewer sees the same dataset.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.common import teacher_button, teacher_unlocked
from hotdog import archives, capture, charts, data, download, images, paths, workspace

SAMPLES_PER_CLASS = 8
CAPTURE_THUMBNAILS = 6
CLASS_TITLES = {"hotdog": "Hotdog", "nohotdog": "Not hotdog"}
#: Everything the Data page's actions may raise for bad input; each carries a one-line message.
INPUT_ERRORS = (data.DataError, paths.PathNotAllowed, archives.ArchiveError, download.DownloadError)


@st.cache_data(max_entries=8, show_spinner="Checking every photo (unreadable files, photos in two splits)…")
def checked(root: str, signature: tuple[int, float]) -> dict:
    """The full data check, redone only when the folder's files change (`signature` is part of the key)."""
    return data.check_data(root)


def choose(action, *args, **kwargs) -> None:
    """Run a Data-page action that picks a new dataset; report its result after the page redraws."""
    try:
        chosen = action(*args, **kwargs)
    except INPUT_ERRORS as error:
        st.error(str(error))
        return
    st.session_state["data_notice"] = f"Now using {chosen}"
    st.rerun()


def byte_progress(bar):
    """A download progress callback that updates `bar` once per megabyte."""
    shown = {"mb": -1}

    def update(done: int, total: int | None) -> None:
        if done // 1_000_000 != shown["mb"]:
            shown["mb"] = done // 1_000_000
            text = f"Downloading: {done / 1e6:,.0f} MB" + (f" of {total / 1e6:,.0f} MB" if total else "")
            bar.progress(min(done / total, 1.0) if total else 0.0, text=text)
    return update


def demo_tab(unlocked: bool) -> None:
    st.markdown("Drawings of hot dogs and look-alike foods (sausages without buns, empty buns, bananas, burgers…), "
                "made on this machine in seconds. **Synthetic, not photos**: good to watch a network learn, "
                "useless for real photos.")
    if teacher_button("Use the demo data", key="use_demo", unlocked=unlocked, icon=":material/palette:"):
        bar = st.progress(0.0, text="Drawing the demo data…")
        choose(workspace.use_demo_data,
               progress=workspace.per_percent(lambda done: bar.progress(done, text="Drawing the demo data…")))


def folder_tab(unlocked: bool) -> None:
    known = workspace.dataset_folders()
    if known:
        picked = st.selectbox("Datasets in the app's data folder", known, format_func=str, key="known_folder")
        if teacher_button("Use this dataset", key="use_known", unlocked=unlocked):
            choose(workspace.use_dataset, picked)
    typed = st.text_input("Or type a folder on the server (it must hold train/hotdog and train/nohotdog)",
                          key="typed_folder", placeholder="data/my-photos")
    st.caption("Allowed folders: " + ", ".join(str(root) for root in paths.allowed_roots())
               + f" (set {paths.ROOTS_ENV} to allow others)")
    if teacher_button("Use the typed folder", key="use_typed", unlocked=unlocked, disabled=not typed.strip()):
        choose(workspace.use_server_folder, typed)


def zip_tab(unlocked: bool) -> None:
    st.markdown("A zip holding `train/hotdog/…` and `train/nohotdog/…` (and optionally `validation/`, `test/`), "
                "with or without one wrapping folder. It is checked and unpacked into a new folder.")
    upload = st.file_uploader("Dataset zip", type=["zip"], key="dataset_zip")
    name = st.text_input("Name of the new dataset (optional)", key="zip_name")
    if teacher_button("Unpack and use", key="use_zip", unlocked=unlocked, disabled=upload is None):
        with st.spinner("Checking and unpacking…"):
            choose(workspace.import_zip, upload, name.strip() or None)


def photos_tab(unlocked: bool) -> None:
    st.markdown("Photos of each class; a fifth of each is held out for validation.")
    left, right = st.columns(2)
    hotdogs = left.file_uploader("Hotdog photos", type=images.PHOTO_TYPES, accept_multiple_files=True,
                                 key="hotdog_photos")
    others = right.file_uploader("Not-hotdog photos", type=images.PHOTO_TYPES, accept_multiple_files=True,
                                 key="nohotdog_photos")
    name = st.text_input("Name of the new dataset", "my-photos", key="photos_name")
    if teacher_button("Save and use", key="use_photos", unlocked=unlocked, disabled=not (hotdogs and others)):
        photos = {label: [(upload.name, upload.getvalue()) for upload in uploads]
                  for label, uploads in (("hotdog", hotdogs), ("nohotdog", others))}
        choose(workspace.import_photos, photos, name)


def keep_photo(root: Path, label: str, photo: bytes) -> None:
    """Save a camera photo into its class; say why after the page redraws when it cannot be kept."""
    try:
        capture.add_photo(root, label, photo)
    except INPUT_ERRORS + (images.ImageError,) as error:
        st.session_state["capture_error"] = f"Not kept: {error}"


def camera_tab(unlocked: bool) -> None:
    st.markdown(f"Take photos with this device's camera, straight into a new dataset: hot dogs, then anything else "
                f"(faces, pets, desks, other food). About {capture.SUGGESTED_PER_CLASS} of each are enough for the "
                f"transfer model.")
    name = st.text_input("Name of the new dataset", "camera-photos", key="capture_name")
    root = capture.capture_dir(name)
    label = st.segmented_control("Photos of", capture.CLASSES, default="hotdog", required=True, key="capture_class",
                                 format_func=CLASS_TITLES.get)
    shots = st.session_state.setdefault("capture_shots", 0)
    shot = st.camera_input(f"Take a {CLASS_TITLES[label].lower()} photo", key=f"capture_camera_{shots}",
                           disabled=not unlocked)
    if shot is not None:
        st.session_state["capture_shots"] = shots + 1  # the next photo gets a fresh camera
        if unlocked:  # a photo forged past the locked camera is dropped
            keep_photo(root, label, shot.getvalue())
        st.rerun()
    if "capture_error" in st.session_state:
        st.error(st.session_state.pop("capture_error"))
    taken = capture.counts(root)
    for column, each in zip(st.columns(2), capture.CLASSES):
        column.metric(f"{CLASS_TITLES[each]} photos", taken[each])
        newest = capture.latest(root, each, CAPTURE_THUMBNAILS)
        if newest:
            column.image([str(path) for path in newest], width=72)
    undo, use = st.columns(2)
    if teacher_button("Undo last photo", key="capture_undo", unlocked=unlocked, container=undo,
                      disabled=not any(taken.values()), icon=":material/undo:"):
        capture.undo_last(root)
        st.rerun()
    if teacher_button("Use this dataset", key="capture_use", unlocked=unlocked, container=use, type="primary",
                      disabled=min(taken.values()) < capture.MIN_PER_CLASS):
        choose(capture.use_photos, root)


def download_tab(unlocked: bool) -> None:
    st.markdown("The classic hot-dog dataset used by the *Dive into Deep Learning* book: 1,400 training and 1,400 "
                "test photos, about 260 MB. Needs the internet; the file's SHA-1 is checked before unpacking.")
    url, sha1 = download.D2L_HOTDOG_URL, download.D2L_HOTDOG_SHA1
    if st.toggle("Another address (a mirror)", key="download_other"):
        url = st.text_input("Address of a dataset zip (http or https)", key="download_url",
                            placeholder="https://example.org/hotdog.zip").strip()
        sha1 = st.text_input("Expected SHA-1 (optional)", key="download_sha1").strip() or None
        st.caption(f"Addresses on this server's own networks are refused unless {download.ALLOW_PRIVATE_ENV}=1.")
    if teacher_button("Download and use", key="use_download", unlocked=unlocked, disabled=not url,
                      icon=":material/download:"):
        bar = st.progress(0.0, text="Connecting…")
        choose(workspace.download_and_use, url, sha1, progress=byte_progress(bar))


def show_counts(report: dict) -> None:
    left, right = st.columns([3, 2])
    left.altair_chart(charts.class_counts_chart(report["splits"]))
    with right:
        st.markdown("#### The score to beat")
        for split, counts in report["splits"].items():
            baseline = report["majority_baseline"][split]
            answer = "the same answer" if len(set(counts.values())) == 1 else f"*{max(counts, key=counts.get)}*"
            st.markdown(f"**{split}**: always saying {answer} scores **{baseline:.0%}**")
        st.caption("A model is only useful if it beats always giving the answer of the bigger class.")
        if report["validation_from_train"]:
            st.caption("No validation/ folder: a fifth of train (per class) is held out for validation.")


def show_samples(root: Path) -> None:
    st.subheader("Sample photos")
    for label, photos in workspace.sample_photos(root, SAMPLES_PER_CLASS).items():
        st.markdown(f"**{label}**")
        st.image([str(photo) for photo in photos], width=120)


def show_problems(report: dict) -> None:
    st.subheader("Problems found")
    unreadable, leaks, small = report["unreadable"], report["duplicates_across_splits"], report["small_images"]
    if not (unreadable or leaks or small):
        st.success("None: every photo reads, no photo appears in two splits, none is tiny.")
    if unreadable:
        st.error(f"{len(unreadable)} unreadable file(s): training skips them.")
        st.dataframe(pd.DataFrame(unreadable), hide_index=True)
    if leaks:
        st.warning(f"{len(leaks)} photo(s) appear in two splits (leakage): scores on those splits flatter the model.")
        st.dataframe(pd.DataFrame(leaks, columns=["photo", "same photo in another split"]), hide_index=True)
    if small:
        st.warning(f"{len(small)} photo(s) smaller than {data.SMALL_IMAGE_PX} pixels.")
        st.dataframe(pd.DataFrame(small), hide_index=True)


st.title(":material/folder_open: Data")
notice = st.session_state.pop("data_notice", None)
if notice:
    st.success(notice)
dataset = workspace.current_dataset()
unlocked = teacher_unlocked()
if dataset is None:
    st.info("No dataset chosen yet: pick one below (the demo data is the quickest start).")
else:
    badge = " :orange-badge[synthetic drawings]" if workspace.is_synthetic(dataset) else ""
    st.markdown(f"### In use: `{dataset.name}`{badge}")
    st.caption(str(dataset))

with st.expander("Choose another dataset", expanded=dataset is None):
    tabs = st.tabs(["Built-in demo", "Folder on the server", "Upload a zip", "Upload photos", "Take photos",
                    "Download"])
    for tab, draw in zip(tabs, (demo_tab, folder_tab, zip_tab, photos_tab, camera_tab, download_tab)):
        with tab:
            draw(unlocked)

if dataset is not None:
    try:
        report = checked(str(dataset), workspace.folder_signature(dataset))
    except data.DataError as error:
        st.error(str(error))
        st.stop()
    show_counts(report)
    show_samples(dataset)
    show_problems(report)
