"""Atomic writes: a reader sees the old file or the new one, never half of one, and a failed write (a full or
read-only disk, an exception mid-write) leaves no partial file behind.

Every file is written to a private temp file in the destination's folder, flushed to disk, then renamed over the
destination with `os.replace` (atomic on Linux, macOS and Windows). Two simultaneous writers each rename a
complete file; the last one wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator

#: Windows refuses to replace a file another process has open for a moment; retry for about this long.
REPLACE_RETRY_S = 2.0


@contextlib.contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """A temp path beside `destination` for writers that take a path (`np.save`, `model.save`); the file written
    there replaces `destination` when the block ends, and is removed if the block fails.

    The temp name keeps the destination's suffix, so a writer that picks its format by suffix (Keras) still works.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.stem}.",
                                    suffix=f".tmp{destination.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a shared file (a cache, a run) from other users
        _replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_file(destination: str | Path, mode: str = "w", **open_args: Any) -> Iterator[IO]:
    """An open file (text as UTF-8 unless `encoding` is given, or binary with mode "wb") that replaces
    `destination` when the block ends; for writers that take a file (`csv.writer`, `np.savez`)."""
    if "b" not in mode:
        open_args.setdefault("encoding", "utf-8")
    with atomic_path(destination) as temporary, open(temporary, mode, **open_args) as handle:
        yield handle


def write_text(destination: str | Path, text: str) -> None:
    with atomic_file(destination) as handle:
        handle.write(text)


def write_bytes(destination: str | Path, data: bytes) -> None:
    with atomic_file(destination, "wb") as handle:
        handle.write(data)


def write_json(destination: str | Path, data: Any) -> None:
    """Indented JSON; values JSON cannot hold (paths, dates) are written as text."""
    write_text(destination, json.dumps(data, indent=2, default=str))


def _flush_to_disk(path: Path) -> None:
    handle = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _replace(source: Path, destination: Path) -> None:
    deadline = time.monotonic() + REPLACE_RETRY_S
    while True:
        try:
            os.replace(source, destination)
            return
        except PermissionError:  # Windows: a reader holds the destination open this instant
            if os.name != "nt" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
