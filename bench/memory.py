"""Peak memory: peak RSS of `python -m hotdog train --model seed` on 5,000 photos at 120x120.

    python -m bench.memory [--photos 5000] [--epochs 1] [--keep DIR]

The photos are drawn by `hotdog.demo_data` (5,000 train + 10% validation, 128x128 JPEGs) into a temporary
folder. The run is measured twice: first with an empty decode cache (the photos are decoded, then trained on),
then again with the cache filled (the decoded photos are memory-mapped). Peak RSS is the kernel's high-water mark
of the training process (`wait4` -> ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, report

TARGET_BYTES = 2 * 2**30


def train_and_measure(data: Path, scratch: Path, epochs: int) -> tuple[int, float]:
    """Peak RSS in bytes and wall seconds of one `python -m hotdog train` process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "hotdog", "train", "--data", str(data), "--model", "seed",
                                "--epochs", str(epochs), "--runs-dir", str(scratch / "runs"), "--json"],
                               cwd=REPO, env={**os.environ, "HOTDOG_CACHE_DIR": str(scratch / "cache")},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training failed:\n{stderr.decode()[-2000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5000, help="train photos (half hotdog)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="draw the photos here and keep them (reused when complete)")
    args = parser.parse_args()
    from hotdog import demo_data

    with tempfile.TemporaryDirectory(prefix="hotdog-memory-") as scratch:
        scratch = Path(scratch)
        per_class = {"train": args.photos // 2, "validation": max(1, args.photos // 20)}
        data = demo_data.generate(args.keep or scratch / "photos", per_class=per_class)
        cold, cold_seconds = train_and_measure(data, scratch, args.epochs)
        cached, cached_seconds = train_and_measure(data, scratch, args.epochs)
    decoded_mb = args.photos * 120 * 120 * 3 / 2**20
    report(f"peak RSS, seed model, {args.photos} train photos at 120x120, {args.epochs} epoch(s)", {
        "decoding then training (empty cache), peak RSS": f"{cold / 2**20:.0f} MiB ({cold_seconds:.0f} s)",
        "training from the decode cache, peak RSS": f"{cached / 2**20:.0f} MiB ({cached_seconds:.0f} s)",
        "the decoded photos themselves (uint8)": f"{decoded_mb:.0f} MiB (float32 would be {4 * decoded_mb:.0f} MiB)",
        "target <= 2 GiB": "met" if max(cold, cached) <= TARGET_BYTES else "missed"})


if __name__ == "__main__":
    main()
