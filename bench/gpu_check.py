"""The GPU check's measurements; `bench/gpu_check.sh` installs what it needs and calls this.

    python -m bench.gpu_check [--photos 4766] [--epochs 3] [--fine-tune-epochs 2] [--models seed transfer]

Draws the photos with `hotdog.demo_data`, then trains each model with and without `--mixed-precision` through
`python -m hotdog train`, exactly as a user would, each run with an empty cache, and reads the timings back from
its metrics.jsonl, per phase (training; then fine-tuning the backbone, for the transfer model):
  - img/s: steady state, from the first to the last batch event of each epoch after the phase's first;
  - s/epoch: the photos of one epoch divided by that rate (the "epoch over 4,765 photos" of the target);
  - epoch wall s: from one epoch event to the next, so with validation and checkpoints;
  - first epoch wall s: with decoding the photos (and computing the transfer model's features).
Works on CPU as well (`bench/gpu_check.sh --small`).
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
from hotdog.models import get_spec, model_names


def train(data: Path, scratch: Path, model: str, mixed: bool, args: argparse.Namespace) -> dict:
    """One `python -m hotdog train` in a fresh cache (so the first epoch decodes, and computes features)."""
    label = f"{model}{'-mixed' if mixed else ''}"
    command = [sys.executable, "-m", "hotdog", "train", "--data", str(data), "--model", model, "--epochs",
               str(args.epochs), "--runs-dir", str(scratch / "runs"), "--json"]
    command += ["--mixed-precision"] if mixed else []
    command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    command += ["--fine-tune-epochs", str(args.fine_tune_epochs)] if get_spec(model).transfer else []
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "HOTDOG_CACHE_DIR": str(scratch / f"cache-{label}")})
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    run = Path(summary["run"])
    return {**timings(run), "process s": round(time.perf_counter() - started, 1),
            "val accuracy": summary.get("val_accuracy"), "device": read(run / "status.json").get("device", "?")}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def timings(run: Path) -> dict:
    """Per phase (training; fine-tuning for a transfer model): steady img/s, seconds per epoch, epoch wall."""
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    config, status = read(run / "config.json"), read(run / "status.json")
    batch_size, photos = config["settings"]["batch_size"], sum(config["dataset"]["used"]["train"].values())
    ends = {event["epoch"]: event for event in events if event["event"] == "epoch"}
    fine_tune_from = status.get("fine_tune_from") or max(ends, default=0)
    phases = {"train": [e for e in sorted(ends) if e <= fine_tune_from],
              "fine-tune": [e for e in sorted(ends) if e > fine_tune_from]}
    figures = {"photos": photos, "batch": batch_size,
               "first epoch wall s": round(ends[min(ends)]["elapsed"], 1) if ends else None}
    for phase, epochs in phases.items():
        steady = epochs[1:] or epochs  # the first epoch of a phase traces its step function
        rates = [rate for epoch in steady if (rate := epoch_rate(events, epoch, batch_size))]
        walls = [ends[epoch]["time"] - ends[epoch - 1]["time"] for epoch in steady if epoch - 1 in ends]
        if rates:
            rate = statistics.median(rates)
            figures[f"{phase} img/s"] = round(rate)
            figures[f"{phase} s/epoch"] = round(photos / rate, 2)
        if walls:
            figures[f"{phase} epoch wall s"] = round(statistics.median(walls), 2)
    return figures


def epoch_rate(events: list[dict], epoch: int, batch_size: int) -> float | None:
    """Images per second from the first to the last batch event of an epoch (the first step's time excluded)."""
    batches = [event for event in events if event["event"] == "batch" and event["epoch"] == epoch]
    if len(batches) < 2 or batches[-1]["time"] <= batches[0]["time"]:
        return None
    return (batches[-1]["step"] - batches[0]["step"]) * batch_size / (batches[-1]["time"] - batches[0]["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=4766, help="train photos (half hotdog)")
    parser.add_argument("--epochs", type=int, default=3, help="at least 2: the first epoch is the warm-up")
    parser.add_argument("--models", nargs="+", default=["seed", "transfer"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: each model's own")
    parser.add_argument("--fine-tune-epochs", type=int, default=2, help="for the transfer model (its backbone)")
    parser.add_argument("--keep", type=Path, help="draw the photos here and keep them (reused when complete)")
    args = parser.parse_args()
    from hotdog import demo_data

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
                result = train(data, scratch, model, mixed, args)
                figures[f"{model}{' --mixed-precision' if mixed else ''}"] = result
                print(model, "mixed" if mixed else "float32", result, flush=True)
    report(f"GPU check: {args.photos} drawn train photos, {args.epochs} epochs", figures)


if __name__ == "__main__":
    main()
