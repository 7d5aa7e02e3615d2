"""What the Predict and Evaluate pages share: models loaded once per server, and "why did it say that?" heatmaps
computed once per photo, model version and threshold, then drawn over the photo.
"""

from __future__ import annotations

import streamlit as st
from PIL import Image

from hotdog import explain, images
from hotdog.predict import Classifier

#: Longest side of a photo shown on a card or in a gallery, in pixels.
THUMBNAIL_PX = 480


@st.cache_resource(max_entries=3, show_spinner="Loading the model (the first time takes a few seconds)…")
def load_classifier(source: str, modified: float) -> Classifier:
    """One model per server and model file version; `modified` is only part of the key."""
    return Classifier.load(source)


@st.cache_data(max_entries=128, show_spinner="Working out where the evidence lies…")
def explanations(source: str, modified: float, photos: tuple[bytes | str, ...], threshold: float
                 ) -> list[explain.Explanation]:
    return explain.explain(load_classifier(source, modified), list(photos), threshold)


def thumbnail(photo: bytes | str) -> Image.Image:
    """The photo, decoded small and turned upright."""
    picture = images.load_rgb(photo, draft_size=THUMBNAIL_PX)
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return picture


def heatmap_pictures(source: str, modified: float, photos: list[bytes | str], threshold: float
                     ) -> list[Image.Image | None]:
    """Each photo (its bytes or its path) with the heatmap of its verdict laid over it; None for a photo that cannot
    be read."""
    found = explanations(source, modified, tuple(photos), threshold)
    return [explain.overlay(thumbnail(photo), explanation.heatmap) if explanation.heatmap is not None else None
            for photo, explanation in zip(photos, found)]


def heatmap_caption(verdict_label: str) -> str:
    return f"Red: where the network found the evidence for \u201c{verdict_label}\u201d (Grad-CAM)."
