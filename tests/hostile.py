"""A corpus of hostile photos, generated on the fly: everything a room of students might upload.

Nothing here is committed as a binary file: each kind is built from a few lines of Pillow or raw bytes when a
test asks for it. Each kind says what Hotdog or Not must answer: a verdict (`reason=None`), or a one-line
reason containing `reason`.
"""

from __future__ import annotations

import io
import os
import random
import socket
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pillow_heif
import pytest
from PIL import Image

pillow_heif.register_heif_opener()  # to write the HEIC photo; hotdog.images registers it to read them

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


def repeated_deflated(*parts: tuple[bytes, int]) -> bytes:
    """A valid zlib stream of each (block, times) in turn, built in milliseconds and little memory however long
    it inflates: each block is compressed once and its bytes repeated (a full flush makes every copy independent);
    the stream ends with an empty final block and the Adler-32 of everything."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream, adler = [b"\x78\xda"], 1
    for block, times in parts:
        compressed = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        stream.append(compressed * times)
        for _ in range(times):
            adler = zlib.adler32(block, adler)
    return b"".join(stream) + b"\x03\x00" + struct.pack(">I", adler)


def zeros_deflated(total: int, block: int = 1 << 21) -> bytes:
    """A valid zlib stream of `total` zero bytes."""
    blocks, rest = divmod(total, block)
    return repeated_deflated((bytes(block), blocks), (bytes(rest), 1))


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


def sixteen_bit_png(width: int, height: int, colour_type: int) -> bytes:
    """A 16-bit PNG of any size with real content (grey: colour type 0, RGBA: 6): 64 stripes of levels, running
    one way on even rows and the other way on odd rows. 7,000 x 7,000 is a few hundred KB on disk, 98 MB (grey)
    or 392 MB (RGBA) of 16-bit samples once decoded."""
    bands = {0: 1, 6: 4}[colour_type]
    levels = (np.arange(width) * 64 // width * 1040).astype(">u2")  # 0 .. 65,520
    pixels = np.stack([levels, levels[::-1], np.full(width, 40000, ">u2"), levels][:bands], axis=1).astype(">u2")
    two_rows = b"\x00" + pixels.tobytes() + b"\x00" + pixels[::-1].tobytes()
    idat = repeated_deflated((two_rows, height // 2), (two_rows[:len(two_rows) // 2], height % 2))
    return png(width, height, idat, bit_depth=16, colour_type=colour_type)


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
BROKEN_HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(random.Random(2).randbytes(400))


KINDS: tuple[Hostile, ...] = (
    Hostile("empty.jpg", lambda: b"", "empty file"),
    Hostile("text-named.jpg", lambda: b"Dear teacher, this is not a photo.\n" * 20, NOT_AN_IMAGE),
    Hostile("random-bytes.jpg", lambda: random.Random(0).randbytes(4096), NOT_AN_IMAGE),
    Hostile("drawing.svg", lambda: SVG, NOT_AN_IMAGE),
    Hostile("broken-phone-photo.heic", lambda: BROKEN_HEIC, NOT_AN_IMAGE),
    Hostile("phone-photo.heic", lambda: encoded(picture(), "HEIF"), None),
    Hostile("photo.avif", lambda: encoded(picture(), "AVIF"), None),
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
    Hostile("sixteen-bit-gray-7000x7000.png", lambda: sixteen_bit_png(7000, 7000, 0), None),
    Hostile("sixteen-bit-rgba-7000x7000.png", lambda: sixteen_bit_png(7000, 7000, 6), None),
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


# ---------------------------------------------------------------------------------------------- special files

NOT_A_FILE = "not a regular file"


def unix_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))


#: Things on disk that are named like photos but are not files: a reader that opens them naively hangs forever
#: (a named pipe) or reads until memory runs out (/dev/zero).
SPECIAL_FILES: tuple[tuple[str, Callable[[Path], None], str], ...] = (
    ("pipe.jpg", lambda path: os.mkfifo(path), f"{NOT_A_FILE} (a named pipe)"),
    ("endless-zeros.jpg", lambda path: path.symlink_to("/dev/zero"), f"{NOT_A_FILE} (a device)"),
    ("folder.jpg", lambda path: path.mkdir(), f"{NOT_A_FILE} (a folder)"),
    ("socket.jpg", unix_socket, f"{NOT_A_FILE} (a socket)"),
    ("dangling-link.jpg", lambda path: path.symlink_to(path.parent / "gone.jpg"), "cannot read file: No such file"),
)


def write_special_files(folder: Path) -> dict[str, Path]:
    """Make every special file in `folder`; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, make, _ in SPECIAL_FILES:
        make(folder / name)
        made[name] = folder / name
    return made


# ---------------------------------------------------------------------------------------------- run files


@dataclass(frozen=True)
class Damage:
    """One hand corruption of a run folder: `file` gets `content` instead of what training wrote; `damage` is
    what `Run.damage` must say (None for metrics.jsonl, whose bad lines are skipped without calling the run
    damaged)."""

    name: str
    file: str
    content: bytes
    damage: str | None


NOT_UTF8 = b"\xff\xfe\x00{\x93not utf-8\x94}"
GOOD_BATCH = (b'{"event": "batch", "epoch": 1, "epochs": 1, "step": 1, "steps": 3, "global_step": 1, "loss": 0.7, '
              b'"accuracy": 0.5, "time": 1.0, "elapsed": 0.5}')
RUN_FILE_DAMAGE: tuple[Damage, ...] = (
    *(Damage(f"{stem}-{label}", f"{stem}.json", content, f"{stem}.json {reason}")
      for stem in ("status", "config")
      for label, content, reason in (
          ("null", b"null", "holds null, not an object"), ("list", b"[1, 2]", "holds a list, not an object"),
          ("string", b'"running"', "holds text, not an object"), ("number", b"42", "holds a number, not an object"),
          ("empty", b"", "is empty"), ("truncated", b'{"state": "runn', "is not valid JSON"),
          ("not-utf8", NOT_UTF8, "cannot be read"))),
    Damage("pid-as-text", "status.json", b'{"state": "running", "pid": "1234", "heartbeat": 1e18}',
           "status.json pid is text"),
    Damage("heartbeat-as-text", "status.json", b'{"state": "running", "pid": 1, "heartbeat": "just now"}',
           "status.json heartbeat is text"),
    Damage("state-as-number", "status.json", b'{"state": 3, "pid": 1}', "status.json state is a number"),
    Damage("accuracy-as-text", "status.json", b'{"state": "completed", "best_val_accuracy": "high"}',
           "status.json best_val_accuracy is text"),
    Damage("epochs-as-text", "status.json", b'{"state": "stopped", "epochs_completed": "three"}',
           "status.json epochs_completed is text"),
    Damage("validation-as-list", "status.json", b'{"state": "completed", "validation": [0.9]}',
           "status.json validation holds a list, not an object"),
    Damage("baseline-as-text", "status.json",
           b'{"state": "completed", "validation": {"accuracy": 0.9, "majority_baseline": "half"}}',
           "status.json validation majority_baseline is text"),
    Damage("settings-null", "config.json", b'{"settings": null}', "config.json settings is null"),
    Damage("settings-list", "config.json", b'{"settings": ["seed"]}', "config.json settings holds a list"),
    Damage("settings-wrong-types", "config.json",
           b'{"settings": {"model": 7, "epochs": "two", "learning_rate": "fast", "image_size": 48}}',
           "config.json settings model is a number"),
    Damage("dataset-null-baseline-list", "config.json",
           b'{"settings": {"model": "seed"}, "dataset": {"majority_baseline": [0.5]}}',
           "config.json dataset majority_baseline is a list"),
    *(Damage(f"metrics-{label}", "metrics.jsonl", GOOD_BATCH + b"\n" + line + b"\n" + GOOD_BATCH + b"\n", None)
      for label, line in (("number", b"42"), ("null", b"null"), ("batch-without-fields", b'{"event": "batch"}'),
                          ("not-utf8", NOT_UTF8), ("list", b"[1, 2]"), ("epoch-as-text", b'{"event": "epoch", '
                                                                                          b'"epoch": "one"}'),
                          ("loss-as-text", GOOD_BATCH.replace(b'"loss": 0.7', b'"loss": "low"')),
                          ("unknown-event", b'{"event": "party", "epoch": 1}'))),
)


def damage_run(run_dir: Path, damage: Damage) -> Path:
    """Apply one corruption to a run folder (its other files stay as training wrote them)."""
    (run_dir / damage.file).write_bytes(damage.content)
    return run_dir


# ---------------------------------------------------------------------------------------------- typed paths

#: Folder paths a student might type on the Data page, and the words of the one-line refusal each must get
#: (pytest parameters: `@pytest.mark.parametrize("typed, reason", hostile.TYPED_PATHS)`).
TYPED_PATHS = (
    pytest.param("data\x00/etc", "holds a NUL character", id="nul-inside"),
    pytest.param("\x00", "holds a NUL character", id="nul-alone"),
    pytest.param("x" * 5000, "does not exist", id="5000-characters"),
    pytest.param("~nosuchuser-hotdog/photos", "does not exist", id="unknown-user"),
    pytest.param("../../../../../../etc", "is outside the allowed folders", id="dot-dot-to-etc"),
    pytest.param("/etc", "is outside the allowed folders", id="etc"),
    pytest.param("/proc/self/root/etc", "is outside the allowed folders", id="proc-root"),
)


def dataset_linking_out(root: Path, outside: Path, photo: Callable[[Path], Path]) -> dict[str, Path]:
    """A dataset inside an allowed folder with a class folder and a photo that link to `outside` (a private folder
    elsewhere on the disk), and a link that stays inside; `photo(path)` draws a real photo at `path`. Returns the
    links, by what they are."""
    for index in range(4):
        for split, label in (("train", "hotdog"), ("train", "nohotdog"), ("test", "nohotdog")):
            photo(root / split / label / f"{index}.jpg")
        photo(outside / "private" / f"holiday-{index}.jpg")
    links = {"class folder": root / "test" / "hotdog", "photo": root / "train" / "nohotdog" / "holiday.jpg",
             "inside": root / "train" / "hotdog" / "again.jpg"}
    links["class folder"].symlink_to(outside / "private", target_is_directory=True)
    links["photo"].symlink_to(outside / "private" / "holiday-0.jpg")
    links["inside"].symlink_to(root / "train" / "hotdog" / "0.jpg")
    return links


# ---------------------------------------------------------------------------------------------- zips


def many_entries_zip(entries: int) -> bytes:
    """A valid ZIP64 file of `entries` empty entries, all named `x` (2,000,000 of them: 94 MB), built by repeating
    one central-directory record: what took `zipfile` 12 s and 1.2 GB to list before the entry limit was checked."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"x"
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"x"
    directory_offset, directory_size = len(local), len(central) * entries
    end64_offset = directory_offset + directory_size
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, directory_size,
                        directory_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end64_offset, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + central * entries + end64 + locator + end


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


# ---------------------------------------------------------------------------------------------- cache files


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _check_file(path: Path) -> Path:
    return path.with_name(path.name + ".check")


#: Ways a cache file (converted weights, decoded photos, backbone features) gets damaged: a copy or a full disk
#: cuts it short, a hand edit or a bad sector changes it, its seal goes missing or is garbled.
CACHE_DAMAGE: tuple[tuple[str, Callable[[Path], None]], ...] = (
    ("cut-in-half", lambda path: path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])),
    ("emptied", lambda path: path.write_bytes(b"")),
    ("one-byte-changed", _flip_middle_byte),
    ("seal-missing", lambda path: _check_file(path).unlink()),
    ("seal-garbled", lambda path: _check_file(path).write_bytes(b"\x00{not json")),
)


# ---------------------------------------------------------------------------------------------- interrupted work

#: A process unpacking a dataset zip from a source that answers slowly (1 ms per read, as a slow disk or upload
#: would), so it can be killed mid-way: argv = data folder, zip file. It prints "started" first.
SLOW_IMPORT = """
import io, sys, time
from pathlib import Path
from hotdog import archives

class Slow(io.BytesIO):
    def read(self, size=-1):
        time.sleep(0.001)
        return super().read(size)

print("started", flush=True)
archives.extract_dataset_zip(Slow(Path(sys.argv[2]).read_bytes()), Path(sys.argv[1]), "slow")
"""


def big_dataset_zip(photos: int = 60, photo_bytes: int = 400_000) -> bytes:
    """A dataset zip of incompressible "photos" (stored), slow to unpack through `SLOW_IMPORT`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(photos):
            label = ("hotdog", "nohotdog")[index % 2]
            archive.writestr(f"train/{label}/{index}.jpg", random.Random(index).randbytes(photo_bytes))
    return buffer.getvalue()
