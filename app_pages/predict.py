"""Predict: photos or the camera in, a big "Hotdog!" or "Not hotdog!" per photo out.

The model is loaded once per server (keyed on its path and modification time, so a retrained model is picked
up); scores are computed once per set of photos, and the threshold slider only moves the verdicts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import streamlit as st

from hotdog import images, workspace
from hotdog.predict import Classifier, Verdict

CARDS_PER_ROW = 3
THUMBNAIL_PX = 480
VERDICT_COLOURS = {"hotdog": "#d1495b", "nohotdog": "#3d7a5a"}


@st.cache_resource(max_entries=3, show_spinner="Loading the model (the first time takes a few seconds)…")
def load_classifier(source: str, modified: float) -> Classifier:
    """One model per server and model file version; `modified` is only part of the key."""
    return Classifier.load(source)


@st.cache_data(max_entries=32, show_spinner="Looking at the photos…")
def score(source: str, modified: float, photos: tuple[tuple[str, bytes], ...]) -> list[Verdict]:
    return load_classifier(source, modified).predict([content for _, content in photos],
                                                    names=[name for name, _ in photos])


@st.cache_data(max_entries=32, show_spinner="Asking ImageNet what it sees…")
def imagenet_guesses(photos: tuple[bytes, ...]) -> list[list[tuple[str, float]]]:
    """ImageNet's top three classes per readable photo ("it thinks this is a cheeseburger")."""
    from hotdog import pretrained

    return [pretrained.imagenet_labels(photo, k=3) for photo in photos]


def model_version(choice: workspace.ModelChoice) -> float:
    return choice.run.model_path.stat().st_mtime if choice.run is not None else 0.0


def collect_photos() -> list[tuple[str, bytes]]:
    uploads = st.file_uploader("Drop photos here (or tap to choose them)", type=images.PHOTO_TYPES,
                               accept_multiple_files=True, key="photos")
    photos = [(upload.name, upload.getvalue()) for upload in uploads or []]
    if st.toggle("Use the camera", key="camera_on"):
        shot = st.camera_input("Take a photo", key="camera")
        if shot is not None:
            photos.append(("camera photo", shot.getvalue()))
    return photos


def verdict_card(verdict: Verdict, photo: bytes, guesses: list[tuple[str, float]] | None) -> None:
    with st.container(border=True):
        if verdict.error:
            st.markdown(f"#### ⚠️ {verdict.source}")
            st.error(f"Cannot read this photo: {verdict.error}")
            return
        thumbnail = images.load_rgb(photo, draft_size=THUMBNAIL_PX)
        thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        st.image(thumbnail, width="stretch")
        colour = VERDICT_COLOURS[verdict.verdict]
        st.markdown(f"<div style='font-size:3.2rem;font-weight:800;line-height:1.1;color:{colour}'>"
                    f"{verdict.label}</div>",
                    unsafe_allow_html=True)
        st.progress(verdict.p_hotdog, text=f"P(hotdog) = {verdict.p_hotdog:.0%} · the verdict is "
                                           f"{verdict.confidence:.0%} sure")
        if guesses:
            st.caption("ImageNet sees: " + ", ".join(f"{name} {p:.0%}" for name, p in guesses))
        st.caption(verdict.source)


st.title(":material/photo_camera: Predict")
choices = workspace.model_choices()
if not choices:
    st.info("No model yet: train one on the Train page (about a minute on the demo data).")
    st.stop()
left, right = st.columns([3, 2])
choice = left.selectbox("Model", choices, format_func=lambda c: c.label, key="model",
                        help="The latest completed run comes first.")
threshold = right.slider("Threshold: P(hotdog) needed to say Hotdog!", 0.0, 1.0, 0.5, 0.01, key="threshold")
photos = collect_photos()
if not photos:
    st.caption("Each photo gets a verdict card. Nothing is stored on the server.")
    st.stop()

try:
    scored = score(choice.source, model_version(choice), tuple(photos))
except Exception as error:  # a damaged model file, missing weights: say so instead of a traceback
    st.error(f"Could not use the model {choice.label}: {type(error).__name__}: {error}")
    st.stop()
verdicts = [dataclasses.replace(verdict, threshold=threshold) for verdict in scored]
readable = [index for index, verdict in enumerate(verdicts) if verdict.error is None]
guesses: dict[int, list] = {}
if choice.source == workspace.IMAGENET and readable:
    guesses = dict(zip(readable, imagenet_guesses(tuple(photos[index][1] for index in readable))))
hotdogs = sum(verdict.verdict == "hotdog" for verdict in verdicts)
st.markdown(f"**{len(photos)} photo(s): {hotdogs} hotdog, {len(readable) - hotdogs} not hotdog"
            + (f", {len(photos) - len(readable)} unreadable**" if len(readable) < len(photos) else "**"))
for start in range(0, len(verdicts), CARDS_PER_ROW):
    for column, index in zip(st.columns(CARDS_PER_ROW), range(start, min(start + CARDS_PER_ROW, len(verdicts)))):
        with column:
            verdict_card(verdicts[index], photos[index][1], guesses.get(index))
table = pd.DataFrame([{**verdict.to_dict(), "threshold": threshold, "model": Path(choice.source).name}
                      for verdict in verdicts])
st.download_button("Download the results (CSV)", table.to_csv(index=False), file_name="hotdog-verdicts.csv",
                   mime="text/csv", icon=":material/download:")
