"""What every benchmark shares: the machine it ran on, medians, and the shared photos.

Absolute times on a shared machine are noisy, so each script repeats its measurement, prints the median and the
spread, and compares alternatives within the same run (interleaved) so that their ratio stays meaningful.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import sys
from pathlib import Path

import psutil

from hotdog.paths import REPO_DIR as REPO

#: The real photos, beside the checkout (not part of a clone).
SHARED_DATA = REPO.parent / "shared" / "data" / "food101-hotdog"


def machine() -> str:
    """One line naming the machine and how busy it was, for docs/BENCHMARKS.md."""
    from hotdog.devices import cpu_name

    memory_gb = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{value:.1f}" for value in psutil.getloadavg())
    return (f"{cpu_name()}, {os.cpu_count()} cores, {memory_gb:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {sys.version.split()[0]}; load average {load}")


def summary(values: list[float]) -> str:
    """"median (min-max, n=5)", the way every figure is reported."""
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g}, n={len(values)})"


def parent_pid(pid: int) -> int:
    """The parent of a process: tells a run forked by the warm worker from a spawned one."""
    return psutil.Process(pid).ppid()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago: for a server to start on, or to find nobody there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_data_or_exit() -> Path:
    if not SHARED_DATA.is_dir():
        sys.exit(f"the real photos are not at {SHARED_DATA}; this benchmark needs them")
    return SHARED_DATA


def report(title: str, figures: dict) -> None:
    """Print the figures readably, then as one JSON line a script can collect."""
    print(f"\n== {title}\nmachine: {machine()}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps({"benchmark": title, **figures}, default=str))
