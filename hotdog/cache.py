"""Where Hotdog or Not keeps things it can always rebuild (converted weights, decoded photos, backbone features),
and how a damaged one is noticed and rebuilt instead of failing every later run.

Each cache file is written atomically, then sealed: a sidecar `<name>.check` records its size, sha256 and
modification time. `verified` compares the size every time and the sha256 whenever the file was touched since it
was sealed, so a cut-short or overwritten file reads as missing and its caller rebuilds it; an untouched file is
not hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hotdog import atomic

CHECK_SUFFIX = ".check"


def cache_dir() -> Path:
    """`HOTDOG_CACHE_DIR`, else `$XDG_CACHE_HOME/hotdog`, else `~/.cache/hotdog`."""
    if os.environ.get("HOTDOG_CACHE_DIR"):
        return Path(os.environ["HOTDOG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hotdog"


def seal(path: Path) -> Path:
    """Record the size, sha256 and modification time of the cache file `path` as it is on disk now; returns it.

    Call it after writing `path` atomically. Two processes sealing at once each describe a real version of the
    file; if the file then differs from its seal, the next `verified` says so and it is rebuilt once more.
    """
    path = Path(path)
    _write_check(path, _sha256(path))
    return path


def verified(path: Path) -> bool:
    """Whether the cache file `path` is there and is what was sealed. False for a missing, unsealed, cut-short or
    changed file: the caller rebuilds it (and seals it again)."""
    path = Path(path)
    try:
        check = json.loads(_check_file(path).read_bytes())
        stat = path.stat()
        if stat.st_size != check["size"]:
            return False
        if stat.st_mtime_ns == check["mtime_ns"]:
            return True
        digest = _sha256(path)
        if digest != check["sha256"]:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:  # the same bytes written again (another process rebuilt it): record it, so it is not hashed next time
        _write_check(path, digest)
    except OSError:  # a read-only cache: it is still good
        pass
    return True


def _write_check(path: Path, digest: str) -> None:
    stat = path.stat()
    atomic.write_json(_check_file(path), {"size": stat.st_size, "sha256": digest, "mtime_ns": stat.st_mtime_ns})


def _check_file(path: Path) -> Path:
    return path.with_name(path.name + CHECK_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
