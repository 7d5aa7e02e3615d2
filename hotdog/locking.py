"""Locks on disk that hold across processes and across threads of one process, on Linux, macOS and Windows.

`filelock` does the platform work (`flock` on Unix, `LockFileEx` on Windows); a forked child drops its copy of
a held lock without releasing it for the parent.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting as long as another holder keeps it."""
    with FileLock(path):
        yield


def try_lock(path: str | Path) -> FileLock | None:
    """Take the lock on `path` at once and return it (held until `.release()` or exit), or None when it is taken."""
    lock = FileLock(path, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock
