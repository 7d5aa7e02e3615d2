"""A corpus of hostile photos, generated on the fly: everything a room of students might upload.

Nothing here is committed as a binary file: each kind is built from a few lines of Pillow or raw bytes when a
test asks for it. Each kind says what Hotdog or Not must answer: a verdict (`reason=None`), or a one-line
reason containing `reason`.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

TOO_LARGE = "image is too large"
NOT_AN_IMAGE = "not an image"
DAMAGED = "damaged or truncated"


@dataclass(frozen=True)
class Hostile:
    """One kind of hostile file: its name (extension as a user would have it), its bytes, the expected answer."""

    name: str
    make: Callable[[], bytes]
    reason: str | None


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(width: int = 120, height: int = 90, seed: int = 0) -> Image.Image:
    """A small noisy colour picture: real content for every encoder, the same bytes for the same seed."""
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.array([1.0, 0.6, 0.3])
    noise = rng.integers(0, 60, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------------- raw PNG


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, idat: bytes, bit_depth: int = 8, colour_type: int = 0,
        before_idat: bytes = b"") -> bytes:
    """A PNG from its parts: the header may claim any size, whatever the pixel data holds."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + before_idat + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def zeros_deflated(total: int, block: int = 1 << 21) -> bytes:
    """A valid zlib stream of `total` zero bytes, built in milliseconds and little memory.

    One block is compressed once and repeated (a full flush makes each block independent); the stream ends with
    an empty final block and the Adler-32 of all zeros, which is ((total mod 65521) << 16) | 1.
    """
    compressor = zlib.compressobj(9)
    first = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(total, block)
    tail = compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FULL_FLUSH) if rest else b""
    if blocks == 0:
        first, blocks = b"\x78\xda", 1  # only the zlib header: the rest holds every byte
    end = b"\x03\x00" + struct.pack(">I", ((total % 65521) << 16) | 1)
    return first + repeated * (blocks - 1) + tail + end


def blank_png(width: int, height: int) -> bytes:
    """A black 8-bit grayscale PNG of any size: a 20,000 x 20,000 one (400 MB of pixels) is about 400 KB."""
    return png(width, height, zeros_deflated((width + 1) * height))


def png_bomb() -> bytes:
    return blank_png(20_000, 20_000)


def png_huge_header() -> bytes:
    return png(100_000, 100_000, zlib.compress(bytes(2001)))


def png_header_lies() -> bytes:
    """4000 x 4000 claimed (under the pixel limit), three rows of data: Pillow fills the rest with black."""
    return png(4000, 4000, zlib.compress(bytes(4001 * 3)))


def png_rgb48() -> bytes:
    rows = b"".join(b"\x00" + bytes(range(0, 240, 4)) * 2 for _ in range(20))  # 20 x 20 x 6 bytes per pixel
    return png(20, 20, zlib.compress(rows), bit_depth=16, colour_type=2)


def png_text_bomb() -> bytes:
    """A fine photo carrying a zTXt chunk that inflates to 64 MB."""
    text = _chunk(b"zTXt", b"Comment\x00\x00" + zeros_deflated(64 << 20))
    good = encoded(picture(), "PNG")
    at = good.index(b"IDAT") - 4
    return good[:at] + text + good[at:]


# ---------------------------------------------------------------------------------------------- JPEG, GIF, BMP


def jpeg_huge_header() -> bytes:
    data = bytearray(encoded(picture(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def gif_huge_screen() -> bytes:
    data = bytearray(encoded(picture(), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def bmp_huge_header() -> bytes:
    data = bytearray(encoded(picture(40, 30), "BMP"))
    data[18:26] = struct.pack("<ii", 100_000, 100_000)
    return bytes(data)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(picture(), "JPEG", exif=exif)


def exif_garbage() -> bytes:
    """A JPEG whose EXIF block is nonsense: the photo itself is fine."""
    good = encoded(picture(), "JPEG")
    garbage = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(random.Random(1).randbytes(64))
    app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
    return good[:2] + app1 + good[2:]


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[:int(len(data) * keep)]


def animated(fmt: str) -> bytes:
    frames = [picture(seed=seed) for seed in range(4)]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)


def palette_transparent() -> bytes:
    palette = picture().convert("P")
    return encoded(palette, "PNG", transparency=0)


SVG = b"""<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="90" height="60">
<rect width="90" height="60" fill="#c84"/><ellipse cx="45" cy="30" rx="35" ry="10" fill="#822"/></svg>"""
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(random.Random(2).randbytes(400))


KINDS: tuple[Hostile, ...] = (
    Hostile("empty.jpg", lambda: b"", "empty file"),
    Hostile("text-named.jpg", lambda: b"Dear teacher, this is not a photo.\n" * 20, NOT_AN_IMAGE),
    Hostile("random-bytes.jpg", lambda: random.Random(0).randbytes(4096), NOT_AN_IMAGE),
    Hostile("drawing.svg", lambda: SVG, NOT_AN_IMAGE),
    Hostile("phone-photo.heic", lambda: HEIC, NOT_AN_IMAGE),
    Hostile("scan.tif", lambda: encoded(picture(), "TIFF"), NOT_AN_IMAGE),
    Hostile("truncated.jpg", lambda: truncated(encoded(picture(300, 300), "JPEG")), DAMAGED),
    Hostile("truncated.png", lambda: truncated(encoded(picture(300, 300), "PNG")), DAMAGED),
    Hostile("header-4000x4000-three-rows.png", png_header_lies, None),
    Hostile("bomb-20000x20000.png", png_bomb, TOO_LARGE),
    Hostile("huge-header-100000x100000.png", png_huge_header, TOO_LARGE),
    Hostile("huge-header-65000x65000.jpg", jpeg_huge_header, TOO_LARGE),
    Hostile("huge-screen-65535x65535.gif", gif_huge_screen, TOO_LARGE),
    Hostile("huge-header-100000x100000.bmp", bmp_huge_header, TOO_LARGE),
    Hostile("cmyk.jpg", lambda: encoded(picture().convert("CMYK"), "JPEG"), None),
    Hostile("sixteen-bit-gray.png", lambda: encoded(Image.fromarray(
        np.linspace(0, 65535, 90 * 120).reshape(90, 120).astype(np.uint16)), "PNG"), None),
    Hostile("sixteen-bit-rgb.png", png_rgb48, None),
    Hostile("grayscale.jpg", lambda: encoded(picture().convert("L"), "JPEG"), None),
    Hostile("gray-alpha.png", lambda: encoded(picture().convert("LA"), "PNG"), None),
    Hostile("palette-transparent.png", palette_transparent, None),
    Hostile("rgba.png", lambda: encoded(picture().convert("RGBA"), "PNG"), None),
    Hostile("animated.gif", lambda: animated("GIF"), None),
    Hostile("animated.webp", lambda: animated("WEBP"), None),
    Hostile("webp-named.jpg", lambda: encoded(picture(), "WEBP"), None),
    Hostile("png-named.jpg", lambda: encoded(picture(), "PNG"), None),
    Hostile("exif-rotated.jpg", exif_rotated, None),
    Hostile("exif-garbage.jpg", exif_garbage, None),
    Hostile("one-pixel.png", lambda: encoded(Image.new("RGB", (1, 1), (200, 120, 40)), "PNG"), None),
    Hostile("thin-1x20000.png", lambda: encoded(Image.new("RGB", (1, 20_000), (200, 120, 40)), "PNG"), None),
    Hostile("text-bomb-in-metadata.png", png_text_bomb, "cannot read image"),
    Hostile("hot dog 🌭 ünïcode name.jpg", lambda: encoded(picture(), "JPEG"), None),
)


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every kind into `folder`; returns file name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind in KINDS:
        path = folder / kind.name
        path.write_bytes(kind.make())
        written[kind.name] = path
    return written


def expected(name: str) -> str | None:
    """The reason fragment a kind must get, or None when it must get a verdict."""
    return next(kind.reason for kind in KINDS if kind.name == name)


def assert_answered(name: str, p_hotdog: float | None, error: str | None) -> None:
    """A verdict where one is due, otherwise a one-line reason holding the expected words."""
    reason = expected(name)
    if reason is None:
        assert error is None and p_hotdog is not None and 0.0 <= p_hotdog <= 1.0, (name, error)
    else:
        assert p_hotdog is None and error and reason in error and "\n" not in error, (name, error)
