"""Turn any photo a user might hand us into a clean RGB image, or a one-line reason why not.

Training, prediction and the data check all read photos through `load_rgb`, and all frame and resize through
`to_array`, so a model is always fed exactly the way it was trained.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

#: Largest photo we agree to decode (width x height). A 20,000 x 20,000 "decompression bomb" is refused
#: with a clear message before any pixel is decoded.
MAX_PIXELS = 50_000_000
#: Largest file we agree to read, in bytes.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Formats we decode, whatever the file extension says (HEIF covers the iPhone's HEIC photos).
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "AVIF", "HEIF")
#: File extensions the app's photo uploaders accept: those formats'.
PHOTO_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "webp", "avif", "heic", "heif"]
#: Pixels converted at a time when a photo is not plain RGB (16-bit, alpha, palette, CMYK...): the conversion's
#: temporary arrays stay a few MB whatever the photo's size.
BAND_PIXELS = 1 << 20
#: Size `probe` converts at: every pixel is still decoded, the converted copy stays small.
PROBE_SIZE = 64
#: Like Pillow's `resize(reducing_gap=...)`: a photo is first shrunk by whole factors to at least this many times
#: the size it is finally resized to.
REDUCING_GAP = 3.0
#: A model sees the centre of a photo, undistorted: the largest centred square shrunk to this share of its side, the
#: framing ImageNet classifiers are evaluated with.
CENTRE_FRACTION = 0.875
#: Names the framing in cache keys, so arrays and features cached under another framing are never reused.
FRAMING = f"centre-{CENTRE_FRACTION}"

ImageSource = Union[str, Path, bytes, bytearray, Image.Image]

pillow_heif.register_heif_opener()
# Pillow's own decompression-bomb guard, everywhere in this process (thumbnails, any library): a warning above
# MAX_PIXELS, an error above twice that. `load_rgb` refuses anything over MAX_PIXELS with its own clear message.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
#: EXIF orientation -> the transpose that shows the photo upright, as every photo viewer does.
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


class ImageError(ValueError):
    """A photo that cannot be used; the message is one line a user can read."""


def _too_large(size: int) -> ImageError:
    return ImageError(f"file is too large ({size / 1e6:.0f} MB, limit {MAX_FILE_BYTES / 1e6:.0f} MB)")


def read_file(path: str | Path) -> bytes:
    """The bytes of a regular file (symlinks followed), at most MAX_FILE_BYTES of them, or ImageError.

    A named pipe would block forever and /dev/zero never ends: anything but a regular file is refused before a
    byte is read, and no more than the limit + 1 bytes are ever read, whatever the file claims.
    """
    try:
        _check_regular(os.stat(path))  # before opening: opening a device can have effects of its own
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise ImageError(f"cannot read file: {error.strerror or error}") from error
    try:
        _check_regular(os.fstat(descriptor))  # and again: it may have been swapped in between
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ImageError(f"cannot read file: {error.strerror or error}") from error
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(len(data))
    return data


def _check_regular(status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "a special file")
        raise ImageError(f"not a regular file ({kind})")
    if status.st_size > MAX_FILE_BYTES:
        raise _too_large(status.st_size)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else read_file(source)
    if not data:
        raise ImageError("empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(len(data))
    try:
        with warnings.catch_warnings():  # e.g. "Corrupt EXIF data": the photo itself is fine, say nothing
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError as error:
        raise ImageError("not an image Hotdog or Not can read (JPEG, PNG, GIF, BMP, WebP, AVIF or HEIC)") from error
    except Image.DecompressionBombError as error:  # over twice MAX_PIXELS: Pillow stops it before our check
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(claimed[1]) / 1e6:,.0f} megapixels, " if claimed else ""
        raise ImageError(f"image is too large ({size}limit {MAX_PIXELS // 1_000_000} megapixels)") from error
    except Exception as error:  # Pillow raises many types for hostile headers
        raise ImageError(f"cannot read image: {error}") from error


def load_rgb(source: ImageSource, draft_size: int | None = None) -> Image.Image:
    """Decode a photo to RGB with EXIF orientation applied; raise ImageError with a clear reason.

    `draft_size` is the size the photo will be shrunk to anyway: JPEG then decodes straight at a reduced scale,
    and any other photo that needs converting is shrunk by whole factors while it is converted, so a 7,000 x
    7,000 16-bit PNG costs its decoded pixels and little more. GIFs give their first frame; grayscale, CMYK,
    16-bit, palette and alpha images become plain RGB (transparency over white, which is how a viewer shows it).
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
            upright = _UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation))
            image = _to_rgb(image, _reduction(image.size, draft_size))
            return image.transpose(upright) if upright is not None else image
    except ImageError:
        raise
    except Exception as error:  # truncated data, bad chunks, unsupported modes
        raise ImageError(f"damaged or truncated image: {error}") from error


def _reduction(size: tuple[int, int], draft_size: int | None) -> tuple[int, int]:
    """Whole factors (x, y) a photo can be shrunk by and still be REDUCING_GAP times `draft_size`, as Pillow's
    own resize would shrink it first."""
    if not draft_size:
        return 1, 1
    return tuple(max(1, int(side / draft_size / REDUCING_GAP)) for side in size)


def _to_rgb(image: Image.Image, factor: tuple[int, int] = (1, 1)) -> Image.Image:
    """Plain RGB, shrunk by `factor`. RGB comes back as it is (resizing shrinks it as well, without a copy);
    anything else is converted one band of rows at a time, each band shrunk before the next one is converted."""
    if image.mode == "RGB":
        return image
    width, height = image.size
    rows = max(factor[1], BAND_PIXELS // width // factor[1] * factor[1])
    top = 65535 if image.mode in ("I;16", "I;16B", "I;16L", "I") and image.getextrema()[1] > 255 else 255
    out = Image.new("RGB", (-(-width // factor[0]), -(-height // factor[1])))
    for y in range(0, height, rows):
        band = _band_to_rgb(image.crop((0, y, width, min(y + rows, height))), top)
        out.paste(band.reduce(factor) if factor != (1, 1) else band, (0, y // factor[1]))
    return out


def _band_to_rgb(image: Image.Image, top: int) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        levels = np.clip(np.asarray(image), 0, top).astype(np.uint32) * 255 // top
        image = Image.fromarray(levels.astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def centre_box(width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the part of a width x height photo a model sees (`CENTRE_FRACTION`)."""
    side = min(width, height) * CENTRE_FRACTION
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def to_array(image: Image.Image, size: int) -> np.ndarray:
    """The centre of the photo (`centre_box`) resized to size x size (bilinear, as Keras does), as uint8 HxWx3: the
    one framing and resize used everywhere."""
    image = image.resize((size, size), Image.Resampling.BILINEAR, box=centre_box(*image.size),
                         reducing_gap=REDUCING_GAP)
    return np.asarray(image, dtype=np.uint8)


def load_array(source: ImageSource, size: int) -> np.ndarray:
    """Decode, frame and resize in one go: what the input pipeline and the Classifier both call."""
    return to_array(load_rgb(source, draft_size=math.ceil(size / CENTRE_FRACTION)), size)


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
        load_rgb(image, draft_size=PROBE_SIZE)
        return size, None
    except ImageError as error:
        return None, str(error)
