"""Turn any photo a user might hand us into a clean RGB image, or a one-line reason why not.

Training, prediction and the data check all read photos through `load_rgb`, and all resize through
`to_array`, so a model is always fed exactly the way it was trained.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest photo we agree to decode (width x height). A 20,000 x 20,000 "decompression bomb" is refused
#: with a clear message before any pixel is decoded.
MAX_PIXELS = 50_000_000
#: Largest file we agree to read, in bytes.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Formats we decode, whatever the file extension says.
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
#: File extensions the app's photo uploaders accept.
PHOTO_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "webp"]

ImageSource = Union[str, Path, bytes, bytearray, Image.Image]

# Our own check replaces Pillow's: a clear ImageError instead of a DecompressionBombWarning.
Image.MAX_IMAGE_PIXELS = None


class ImageError(ValueError):
    """A photo that cannot be used; the message is one line a user can read."""


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ImageError(f"file is too large ({size / 1e6:.0f} MB, limit {MAX_FILE_BYTES / 1e6:.0f} MB)")
            data = path.read_bytes()
        except OSError as error:
            raise ImageError(f"cannot read file: {error.strerror or error}") from error
    if not data:
        raise ImageError("empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"file is too large ({len(data) / 1e6:.0f} MB, limit {MAX_FILE_BYTES / 1e6:.0f} MB)")
    try:
        with warnings.catch_warnings():  # e.g. "Corrupt EXIF data": the photo itself is fine, say nothing
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError as error:
        raise ImageError("not an image Hotdog or Not can read (JPEG, PNG, GIF, BMP or WebP)") from error
    except Exception as error:  # Pillow raises many types for hostile headers
        raise ImageError(f"cannot read image: {error}") from error


def load_rgb(source: ImageSource, draft_size: int | None = None) -> Image.Image:
    """Decode a photo to RGB with EXIF orientation applied; raise ImageError with a clear reason.

    `draft_size` lets JPEG decode straight at a reduced scale (much faster for big photos we will shrink anyway).
    GIFs give their first frame; grayscale, CMYK, 16-bit, palette and alpha images become plain RGB
    (transparency over white, which is how a viewer shows it).
    """
    image = _open(source)
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image is too large ({width} x {height} pixels, limit {MAX_PIXELS // 1_000_000} megapixels)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return _to_rgb(image)
    except ImageError:
        raise
    except Exception as error:  # truncated data, bad chunks, unsupported modes
        raise ImageError(f"damaged or truncated image: {error}") from error


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_array(image: Image.Image, size: int) -> np.ndarray:
    """Resize to size x size (bilinear, as Keras does) and return uint8 HxWx3; the one resize used everywhere."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


def load_array(source: ImageSource, size: int) -> np.ndarray:
    """Decode and resize in one go: what the input pipeline and the Classifier both call."""
    return to_array(load_rgb(source, draft_size=size), size)


def describe(source: ImageSource) -> str:
    """A short name for a source, for messages and result tables."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "image"
    return "uploaded bytes"


def probe(source: ImageSource) -> tuple[tuple[int, int] | None, str | None]:
    """Fully decode a photo to check it: ((width, height), None) when usable, (None, reason) when not."""
    try:
        image = _open(source)
        size = image.size
        load_rgb(image)
        return size, None
    except ImageError as error:
        return None, str(error)
