"""Where Hotdog or Not keeps things it can always rebuild: converted weights, decoded photos."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`HOTDOG_CACHE_DIR`, else `$XDG_CACHE_HOME/hotdog`, else `~/.cache/hotdog`."""
    if os.environ.get("HOTDOG_CACHE_DIR"):
        return Path(os.environ["HOTDOG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hotdog"
