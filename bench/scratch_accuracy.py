"""Seed recipe vs the from-scratch `cnn` on the real photos: test balanced accuracy, side by side.

    python -m bench.scratch_accuracy [--data ../shared/data/food101-hotdog] [--models seed cnn] [--seeds 0]

Each model trains with its defaults through the CLI (a real run folder each), then is evaluated on the test split,
which no setting was tuned on. Prints one line per run and a JSON summary as the last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, SHARED_DATA


def cli(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "hotdog", *args, "--json"], cwd=REPO, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED_DATA))
    parser.add_argument("--models", nargs="+", default=["seed", "cnn"])
    parser.add_argument("--seeds", nargs="+", default=["0"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for model in args.models:
            for seed in args.seeds:
                start = time.perf_counter()
                run = cli("train", "--data", args.data, "--model", model, "--seed", seed, "--runs-dir", runs_dir)
                seconds = time.perf_counter() - start
                test = cli("evaluate", run["run"], "--data", args.data, "--split", "test")
                row = {"model": model, "seed": int(seed), "epochs": run["epochs"], "train_seconds": round(seconds),
                       "test_accuracy": round(test["accuracy"], 3),
                       "test_balanced_accuracy": round(test["balanced_accuracy"], 3),
                       "test_roc_auc": round(test["roc_auc"], 3), "confusion_matrix": test["confusion_matrix"],
                       "majority_baseline": round(test["majority_baseline"], 3)}
                rows.append(row)
                print(f"{model:<6} seed {seed}: test balanced accuracy {row['test_balanced_accuracy']:.3f} "
                      f"(accuracy {row['test_accuracy']:.3f}, AUC {row['test_roc_auc']:.3f}, "
                      f"baseline {row['majority_baseline']:.3f}) in {seconds:.0f} s", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
