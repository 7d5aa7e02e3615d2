"""The GPU check's measurements (issue 5, item 7); `bench/gpu_check.sh` installs what it needs and calls this.

    python -m bench.gpu_check [--photos 4766] [--epochs 3] [--models seed transfer] [--batch-size N]

Draws the photos with `hotdog.demo_data`, then trains each model with and without `--mixed-precision` through
`python -m hotdog train`, exactly as a user would, and reads the timings back from each run's metrics.jsonl:
  - train img/s: steady state, from the first to the last batch event of each epoch after the first;
  - train s/epoch: the photos of one epoch divided by that rate (the "epoch over 4,765 photos" of the target);
  - epoch wall s: from one epoch event to the next, so with validation and checkpoints, after the first epoch.
Works on CPU as well (use --photos 200 --epochs 2 there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, report


def train(data: Path, scratch: Path, model: str, epochs: int, mixed: bool, batch_size: int | None) -> dict:
    command = [sys.executable, "-m", "hotdog", "train", "--data", str(data), "--model", model, "--epochs",
               str(epochs), "--runs-dir", str(scratch / "runs"), "--json"]
    command += ["--mixed-precision"] if mixed else []
    command += ["--batch-size", str(batch_size)] if batch_size else []
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "HOTDOG_CACHE_DIR": str(scratch / "cache")})
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {**timings(Path(summary["run"])), "process s": round(time.perf_counter() - started, 1),
            "val accuracy": summary.get("val_accuracy"), "device": status_device(Path(summary["run"]))}


def status_device(run: Path) -> str:
    return json.loads((run / "status.json").read_text()).get("device", "?")


def timings(run: Path) -> dict:
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    config = json.loads((run / "config.json").read_text())
    batch_size, photos = config["settings"]["batch_size"], sum(config["dataset"]["used"]["train"].values())
    rates, walls = [], []
    epochs = sorted({event["epoch"] for event in events})
    for epoch in epochs[1:]:
        batches = [event for event in events if event["event"] == "batch" and event["epoch"] == epoch]
        if len(batches) >= 2 and batches[-1]["time"] > batches[0]["time"]:
            steps = batches[-1]["step"] - batches[0]["step"]
            rates.append(steps * batch_size / (batches[-1]["time"] - batches[0]["time"]))
    ends = [event for event in events if event["event"] == "epoch"]
    walls = [later["time"] - earlier["time"] for earlier, later in zip(ends, ends[1:])]
    rate = statistics.median(rates) if rates else None
    return {"train img/s": round(rate) if rate else None,
            "train s/epoch": round(photos / rate, 2) if rate else None,
            "epoch wall s": round(statistics.median(walls), 2) if walls else None,
            "first epoch wall s": round(ends[0]["elapsed"], 1) if ends else None,
            "photos": photos, "batch": batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=4766, help="train photos (half hotdog)")
    parser.add_argument("--epochs", type=int, default=3, help="at least 2: the first epoch is the warm-up")
    parser.add_argument("--models", nargs="+", default=["seed", "transfer"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: each model's own")
    parser.add_argument("--keep", type=Path, help="draw the photos here and keep them (reused when complete)")
    args = parser.parse_args()
    from hotdog import demo_data
    from hotdog.models import model_names

    figures = {}
    with tempfile.TemporaryDirectory(prefix="hotdog-gpu-check-") as scratch:
        scratch = Path(scratch)
        started = time.perf_counter()
        per_class = {"train": args.photos // 2, "validation": max(1, args.photos // 20)}
        data = demo_data.generate(args.keep or scratch / "photos", per_class=per_class)
        figures["photos drawn in s"] = round(time.perf_counter() - started, 1)
        for model in args.models:
            if model not in model_names(trainable_only=True):
                figures[model] = "not a trainable model in this checkout: skipped"
                continue
            for mixed in (False, True):
                result = train(data, scratch, model, args.epochs, mixed, args.batch_size)
                figures[f"{model}{' --mixed-precision' if mixed else ''}"] = result
                print(model, "mixed" if mixed else "float32", result, flush=True)
    report(f"GPU check: {args.photos} drawn train photos, {args.epochs} epochs", figures)


if __name__ == "__main__":
    main()
