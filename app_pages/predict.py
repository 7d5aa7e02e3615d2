"""Predict: photos or the camera in, a big "Hotdog!" or "Not hotdog!" per photo out, and on request the heatmap of
where the network found its evidence.

Phone first: on a narrow screen the verdict cards come before the inputs and the settings wait in an expander, so
the photo just taken and its verdict fill the screen. On a wide one the cards sit left of the inputs. The model
is loaded once per server (keyed on its path and modification time, so a retrained model is picked up); scores
are computed once per set of photos, and the threshold slider only moves the verdicts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.verdicts import heatmap_caption, heatmap_pictures, load_classifier, thumbnail
from hotdog import images, workspace
from hotdog.predict import Verdict

CARDS_PER_ROW = 2
VERDICT_COLOURS = {"hotdog": "#d1495b", "nohotdog": "#3d7a5a"}
#: What the camera asks for: enough pixels for the models (up to 260) and a sharp heatmap, quick to send from a phone.
CAMERA_RESOLUTION = "720p"
DRAWINGS_NOTE = "learned from drawings, not photos"


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
    """The camera's photo first (the one just taken), then the uploads in their order."""
    photos = []
    if st.toggle("Use the camera", key="camera_on"):
        shot = st.camera_input("Take a photo", key="camera", resolution=CAMERA_RESOLUTION)
        if shot is not None:
            photos.append(("camera photo", shot.getvalue()))
    uploads = st.file_uploader("Drop photos here (or tap to choose them)", type=images.PHOTO_TYPES,
                               accept_multiple_files=True, key="photos")
    return photos + [(upload.name, upload.getvalue()) for upload in uploads or []]


def verdict_card(verdict: Verdict, photo: bytes, guesses: list[tuple[str, float]] | None, key: str,
                 choice: workspace.ModelChoice) -> None:
    with st.container(border=True):
        if verdict.error:
            st.markdown(f"#### ⚠️ {verdict.source}")
            st.error(f"Cannot read this photo: {verdict.error}")
            return
        picture = st.empty()
        colour = VERDICT_COLOURS[verdict.verdict]
        st.markdown(f"<div style='container-type:inline-size'><div class='hotdog-verdict' style='font-size:"
                    f"min(3.2rem,16cqi);font-weight:800;line-height:1.1;white-space:nowrap;color:{colour}'>"
                    f"{verdict.label}</div></div>", unsafe_allow_html=True)
        st.progress(verdict.p_hotdog, text=f"P(hotdog) = {verdict.p_hotdog:.0%} · the verdict is "
                                           f"{verdict.confidence:.0%} sure")
        if st.toggle("Why? Show where it looked", key=f"why-{key}"):
            heat = heatmap_pictures(choice.source, model_version(choice), [photo], verdict.threshold)[0]
            picture.image(heat, width="stretch", caption=heatmap_caption(verdict.label))
        else:
            picture.image(thumbnail(photo), width="stretch")
        if choice.drawings:
            st.markdown(f":orange-badge[:material/palette: {DRAWINGS_NOTE}]")
        if guesses:
            st.caption("ImageNet sees: " + ", ".join(f"{name} {p:.0%}" for name, p in guesses))
        st.caption(verdict.source)


def photo_key(index: int, name: str, content: bytes) -> str:
    """A widget key that stays with its photo while others come and go."""
    return f"{index}-{hashlib.sha1(name.encode() + content).hexdigest()[:10]}"


st.title(":material/photo_camera: Predict")
choices = workspace.model_choices()
if not choices:
    st.info("No model yet: train one on the Train page (about a minute on the demo data).")
    st.stop()
results, inputs = st.columns([2, 1], gap="large")  # on a phone the columns stack: the verdicts come first
with inputs:
    photos = collect_photos()
    with st.expander("Settings: model and threshold", icon=":material/tune:"):
        choice = st.selectbox("Model", choices, format_func=lambda c: c.label, key="model",
                              help="The latest completed run comes first.")
        threshold = st.slider("Threshold: P(hotdog) needed to say Hotdog!", 0.0, 1.0, 0.5, 0.01, key="threshold")
    st.caption(f"Model: {choice.label} · threshold {threshold:.2f}")
    if choice.drawings:
        st.warning(f"This model {DRAWINGS_NOTE} (the built-in demo data), so its verdicts on real photos mean "
                   "little. For real photos choose **ImageNet, no training** in the settings, or train the "
                   "**transfer** model on real photos (Data page: take photos, upload them, or pick a folder).",
                   icon=":material/palette:")
if not photos:
    results.caption("Take a photo or drop some: each gets a verdict card. Nothing is stored on the server.")
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
with results:
    for start in range(0, len(verdicts), CARDS_PER_ROW):
        row = range(start, min(start + CARDS_PER_ROW, len(verdicts)))
        for column, index in zip(st.columns(CARDS_PER_ROW), row):
            with column:
                verdict_card(verdicts[index], photos[index][1], guesses.get(index), photo_key(index, *photos[index]),
                             choice)
    hotdogs = sum(verdict.verdict == "hotdog" for verdict in verdicts)
    st.markdown(f"**{len(photos)} photo(s): {hotdogs} hotdog, {len(readable) - hotdogs} not hotdog"
                + (f", {len(photos) - len(readable)} unreadable**" if len(readable) < len(photos) else "**"))
    table = pd.DataFrame([{**verdict.to_dict(), "threshold": threshold, "model": Path(choice.source).name}
                          for verdict in verdicts])
    st.download_button("Download the results (CSV)", table.to_csv(index=False), file_name="hotdog-verdicts.csv",
                       mime="text/csv", icon=":material/download:")
