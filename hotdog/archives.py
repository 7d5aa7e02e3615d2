"""Turn an uploaded zip, or photos uploaded one class at a time, into a new dataset folder, without trusting them.

A zip from a browser can hold anything: `../` paths, symlinks, a zip bomb, a million files. Every entry is checked
before anything is written, sizes are counted while writing (headers can lie), and everything is built in a hidden
temporary folder that is renamed into place only on success, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator, Union

from hotdog import data, locking

#: Most entries (files and folders) a dataset zip may hold.
MAX_FILES = 20_000
#: Most bytes a dataset zip may unpack to, counted while writing.
MAX_TOTAL_BYTES = 2 * 1024**3
#: Highest uncompressed / compressed size of one entry; photos barely compress, zip bombs reach 1000:1.
MAX_RATIO = 100
#: Entries we refuse to unpack: an archive inside the archive would dodge every limit here.
NESTED_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
#: Operating-system litter skipped silently (macOS resource forks, Finder and Explorer metadata).
JUNK_FOLDERS = frozenset({"__MACOSX"})
JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: Prefixes of the work in progress under data_root (unpacking folders, downloads); folder listings should skip
#: names starting with ".". Each has a `<name>.lock` beside it while its process works on it.
PARTIAL_PREFIX, DOWNLOAD_PREFIX, LOCK_SUFFIX = ".partial-", ".download-", ".lock"
SCRATCH_PREFIXES = (PARTIAL_PREFIX, DOWNLOAD_PREFIX)

ZipSource = Union[str, Path, BinaryIO]

_CHUNK = 1024 * 1024
#: The zip records read before `zipfile` is trusted: end of central directory, its ZIP64 locator and ZIP64 version,
#: and the fixed part of a central-directory entry (PKWARE APPNOTE 4.3.12-4.3.16).
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class ArchiveError(ValueError):
    """An upload that cannot become a dataset; the message is one line naming the reason (and the bad entry)."""


def extract_dataset_zip(
    zip_file: ZipSource,
    data_root: Path,
    name: str | None = None,
    *,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
) -> Path:
    """Unpack a dataset zip into a new folder under `data_root` and return its dataset root (the folder with train/).

    The new folder is named after `name`, else the zip's file name. One wrapping folder (`hotdog/train/...`) is
    fine. Raises ArchiveError, leaving nothing under `data_root`, for anything unsafe or not shaped like a dataset.
    """
    entries = count_entries(zip_file, max_files)
    if entries > max_files:
        raise ArchiveError(f"too many entries ({entries:,}, limit {max_files:,})")
    try:
        archive = zipfile.ZipFile(zip_file)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ArchiveError("not a zip file (or a damaged one)") from error
    with archive:
        members = _checked_members(archive.infolist(), max_files, max_total_bytes, max_ratio)

        def fill(folder: Path) -> Path:
            _extract(archive, members, folder, max_total_bytes)
            return _dataset_root(folder)

        return _build_atomically(Path(data_root), name or _source_name(zip_file), fill)


def count_entries(zip_file: ZipSource, limit: int) -> int:
    """How many entries a zip holds, read from its end-of-central-directory record (ZIP64 too) and by walking the
    central directory's own records, at most `limit` + 1 of them: `zipfile` would build an object per entry
    first, and 2 million empty entries (a 186 MB zip) cost it 12 s and 1.2 GB before any check could run.

    Returns the larger of the two counts (a record may lie about the count, not about the records), or 0 when
    this is no zip at all (`zipfile` then says so). A file object is left at the position it had.
    """
    if isinstance(zip_file, (str, Path)):
        with open(zip_file, "rb") as handle:
            return count_entries(handle, limit)
    start = zip_file.tell()
    try:
        end = _end_of_central_directory(zip_file)
        if end is None:
            return 0
        claimed, directory_start, directory_size = end
        return max(claimed, _walk_central_directory(zip_file, directory_start, directory_size, limit))
    finally:
        zip_file.seek(start)


def _end_of_central_directory(file: BinaryIO) -> tuple[int, int, int] | None:
    """(entries claimed, where the central directory starts, its size), found as `zipfile` finds them."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - _EOCD.size - 0xFFFF))  # the record, then a comment of up to 64 KB
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    position = size - len(tail) + at
    _, _, _, _, entries, directory_size, directory_offset, _ = _EOCD.unpack_from(tail, at)
    locator = at - _ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        file.seek(position - _ZIP64_LOCATOR.size - _ZIP64_END.size)
        record = file.read(_ZIP64_END.size)
        if record[:4] == b"PK\x06\x06":
            entries, directory_size, directory_offset = _ZIP64_END.unpack(record)[7:10]
            position -= _ZIP64_LOCATOR.size + _ZIP64_END.size
    return entries, position - directory_size, directory_size


def _walk_central_directory(file: BinaryIO, start: int, size: int, limit: int) -> int:
    """Count the central directory's records from their own headers, stopping after `limit` + 1."""
    file.seek(max(start, 0))
    count, remaining = 0, size
    while remaining >= _CENTRAL.size and count <= limit:
        header = file.read(_CENTRAL.size)
        if len(header) < _CENTRAL.size or header[:4] != b"PK\x01\x02":
            break
        name, extra, comment = struct.unpack_from("<3H", header, 28)
        file.seek(name + extra + comment, os.SEEK_CUR)
        remaining -= _CENTRAL.size + name + extra + comment
        count += 1
    return count


def save_uploaded_photos(files: dict[str, list[tuple[str, bytes]]], data_root: Path, name: str) -> Path:
    """Write photos uploaded per class into a new `<name>/train/<class>/` dataset and return its root.

    File names are sanitized and made unique, so two `IMG_0001.jpg` from different phones both survive.
    Raises ArchiveError, leaving nothing behind, when there are no classes or a class has no photos.
    """
    if not files:
        raise ArchiveError("no photos uploaded")
    empty = [label for label, photos in files.items() if not photos]
    if empty:
        raise ArchiveError(f"no photos uploaded for class '{empty[0]}'")

    def fill(folder: Path) -> Path:
        for label, photos in files.items():
            class_dir = folder / "train" / safe_name(label, "class")
            class_dir.mkdir(parents=True, exist_ok=True)
            for filename, data in photos:
                _unique_path(class_dir, _safe_file_name(filename)).write_bytes(data)
        return folder

    return _build_atomically(Path(data_root), name, fill)


def safe_name(text: str, fallback: str = "dataset") -> str:
    """A file-system-safe version of `text` (letters, digits, `.`, `_`, `-`; never hidden, never empty)."""
    cleaned = _UNSAFE_CHARS.sub("-", text).strip(".-")[:60].strip(".-")
    return cleaned or fallback


def _safe_file_name(filename: str) -> str:
    stem, suffix = os.path.splitext(PurePosixPath(filename.replace("\\", "/")).name)
    suffix = safe_name(suffix.lower(), "")
    return safe_name(stem, "photo") + (f".{suffix}" if suffix else "")


def _unique_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/name-2`, `-3`... when taken (suffix kept)."""
    stem, suffix = os.path.splitext(name)
    candidate, number = folder / name, 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate


def _source_name(zip_file: ZipSource) -> str:
    """The zip's own file name without `.zip`: Streamlit's UploadedFile and open files carry a `.name`."""
    filename = str(zip_file) if isinstance(zip_file, (str, Path)) else str(getattr(zip_file, "name", "") or "")
    return os.path.splitext(PurePosixPath(filename.replace("\\", "/")).name)[0] or "dataset"


@contextlib.contextmanager
def scratch_path(data_root: Path, prefix: str, suffix: str = "") -> Iterator[Path]:
    """A fresh hidden path under `data_root` for work in progress (an unpacking folder, a download), claimed by a
    lock on disk for as long as the block runs, and removed when it ends unless the block moved it away.

    A process killed meanwhile (kill -9, a power cut) releases its lock without removing anything; the next
    `scratch_path` (or `remove_abandoned`) finds such unclaimed leftovers and removes them, never one in progress.
    """
    data_root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(data_root)
    name = f"{prefix}{secrets.token_hex(8)}{suffix}"
    lock_path = data_root / f"{name}{LOCK_SUFFIX}"
    claim = locking.try_lock(lock_path)  # taken before the path exists: a cleaner never sees it unclaimed
    if claim is None:
        raise OSError(f"cannot claim {lock_path}")
    try:
        yield data_root / name
    finally:
        _remove(data_root / name)
        claim.release()
        lock_path.unlink(missing_ok=True)


def remove_abandoned(data_root: Path) -> list[Path]:
    """Remove the leftovers of unpacking and downloading processes that died (their lock is free); return them."""
    removed = []
    for path in sorted(data_root.glob(".*")) if data_root.is_dir() else []:
        name = path.name
        if not name.startswith(SCRATCH_PREFIXES) or name.endswith(LOCK_SUFFIX):
            continue  # a lock without its work yet may be one being claimed right now: only work is judged
        lock_path = data_root / f"{name}{LOCK_SUFFIX}"
        claim = locking.try_lock(lock_path)
        if claim is None:  # its process is still at work
            continue
        try:
            if _remove(data_root / name):
                removed.append(data_root / name)
        finally:
            claim.release()
            lock_path.unlink(missing_ok=True)
    return removed


def _remove(path: Path) -> bool:
    """Delete a file or a folder tree if it is there; True when something was deleted."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return True
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _build_atomically(data_root: Path, name: str, fill: Callable[[Path], Path]) -> Path:
    """Run `fill` on a hidden temporary folder, then rename it to a free name; on any failure delete it."""
    with scratch_path(data_root, PARTIAL_PREFIX) as partial:
        partial.mkdir()
        inner = fill(partial).relative_to(partial)
        return _rename_to_free_name(partial, data_root, safe_name(name)) / inner


def _rename_to_free_name(partial: Path, data_root: Path, name: str) -> Path:
    number = 1
    while True:
        target = data_root / (name if number == 1 else f"{name}-{number}")
        if not target.exists():
            try:
                partial.rename(target)
                return target
            except OSError as error:  # taken meanwhile by a concurrent upload: try the next name
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        number += 1


def _checked_members(
    members: list[zipfile.ZipInfo], max_files: int, max_total_bytes: int, max_ratio: float
) -> list[zipfile.ZipInfo]:
    """Refuse the whole zip on the first bad entry (headers only); return the entries worth unpacking."""
    if len(members) > max_files:
        raise ArchiveError(f"too many entries ({len(members):,}, limit {max_files:,})")
    _check_declared_size(members, max_total_bytes)
    for info in members:
        _check_entry(info, max_ratio)
    return [info for info in members if not _is_junk(info.filename)]


def _check_declared_size(members: list[zipfile.ZipInfo], max_total_bytes: int) -> None:
    """Refuse an honest but oversized zip before writing anything; `_extract` still counts what is written."""
    declared = sum(info.file_size for info in members)
    if declared > max_total_bytes:
        raise ArchiveError(f"unpacks to {_megabytes(declared)}, limit {_megabytes(max_total_bytes)}")


def _check_entry(info: zipfile.ZipInfo, max_ratio: float) -> None:
    name = info.filename
    if "\\" in name or _DRIVE.match(name):
        raise ArchiveError(f"refused entry '{name}': Windows-style path")
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise ArchiveError(f"refused entry '{name}': path leaves the dataset folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"refused entry '{name}': symbolic link")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"refused entry '{name}': password-protected")
    if not info.is_dir() and name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
        raise ArchiveError(f"refused entry '{name}': archive inside the archive; unpack it first")
    if info.file_size > max_ratio * max(info.compress_size, 1):
        raise ArchiveError(f"refused entry '{name}': compression ratio over {max_ratio:g} (zip bomb?)")


def _is_junk(name: str) -> bool:
    path = PurePosixPath(name)
    in_junk_folder = any(part in JUNK_FOLDERS for part in path.parts)
    return in_junk_folder or path.name in JUNK_FILES or path.name.startswith("._")


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], folder: Path, max_total_bytes: int) -> None:
    """Write the entries, counting the bytes actually written against the limit whatever the headers claimed.

    No per-entry count is needed: zipfile stops each entry at its header size, which `_check_entry` bounded.
    """
    written = 0
    for info in members:
        target = folder.joinpath(*PurePosixPath(info.filename).parts)
        try:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                written = _write_entry(archive, info, target, written, max_total_bytes)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as error:
            raise ArchiveError(f"cannot unpack entry '{info.filename}': {error}") from error


def _write_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, written: int, limit: int) -> int:
    """Stream one entry to `target`; return the running total of bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise ArchiveError(f"unpacks to more than the limit of {_megabytes(limit)} (at '{info.filename}')")
            sink.write(chunk)
    return written


def _dataset_root(folder: Path) -> Path:
    """The folder holding train/ (or any name hotdog.data reads as train, such as Training/): the top itself, or
    inside a chain of single wrapping folders (loose files such as a README beside the wrapper are ignored)."""
    current = folder
    while True:
        children = [child for child in current.iterdir() if child.is_dir()]
        if any(data.SPLIT_ALIASES.get(child.name.lower()) == "train" for child in children):
            return current
        if len(children) != 1:
            raise ArchiveError("no train/ folder in the zip (expected train/hotdog/... or <folder>/train/hotdog/...)")
        current = children[0]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size:,} bytes"
