"""Start to first chart point: `launch.start_training_process(...)` -> the first batch event in metrics.jsonl, as
the Train page sees it, with the app already running, for both ways a training process starts.

    python -m bench.first_batch [--runs 5] [--data ROOT] [--model seed]

This process plays the app: it has not imported TensorFlow. Two runs folders are used in turns: one served by the
warm worker (`hotdog.worker.ensure_running`, Linux), one with `HOTDOG_NO_FORK=1`, where every run is a spawned
`python -m hotdog train` process, as on macOS and Windows. Where the warm worker is not available only the spawned
path is measured. The decode cache is a fresh temporary folder: the very first run also decodes the photos, and is
reported on its own; every later run finds them cached. Each run is asked to stop after its first batch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import parent_pid, report, shared_data_or_exit, summary


def seconds_to_first_batch(config, runs_dir: Path, worker_pid: int | None = None) -> float | None:
    """Seconds from the call to the first batch event; None when the run was not started the way asked."""
    from hotdog import launch, runs

    started = time.time()
    run = launch.start_training_process(config, runs_dir)
    try:
        forked_by_worker = parent_pid(run.status["pid"]) == worker_pid
    except (OSError, KeyError):
        forked_by_worker = False
    while True:
        batches = [event for event in run.metrics() if event.get("event") == "batch"]
        if batches:
            break
        if run.state == "failed":
            raise RuntimeError(f"{run.id} failed: {run.status.get('error')}; see {run.path / runs.LOG}")
        time.sleep(0.005)
    run.request_stop()
    while run.state in runs.ACTIVE_STATES:
        time.sleep(0.1)
    return batches[0]["time"] - started if forked_by_worker == (worker_pid is not None) else None


def ready_worker(runs_dir: Path, timeout: float = 180) -> int:
    """The pid of the warm worker serving `runs_dir`, started if needed (it restarts when the code changes)."""
    from hotdog import worker

    worker.ensure_running(runs_dir)
    deadline = time.time() + timeout
    while (answer := worker.ping(runs_dir)) is None:
        if time.time() > deadline:
            raise SystemExit(f"the worker did not become ready in {timeout:.0f} s; see {runs_dir}/.worker.log")
        time.sleep(0.2)
    return answer["pid"]


def measure(config, runs_dir: Path, warm: bool, attempts: int = 5) -> float:
    """One start, retried when the worker was restarting (the library changed on disk) meanwhile."""
    from hotdog import worker

    for _ in range(attempts):
        if warm:
            seconds = seconds_to_first_batch(config, runs_dir, ready_worker(runs_dir))
        else:
            os.environ[worker.NO_FORK_ENV] = "1"
            try:
                seconds = seconds_to_first_batch(config, runs_dir)
            finally:
                del os.environ[worker.NO_FORK_ENV]
        if seconds is not None:
            return seconds
    raise SystemExit(f"no run in {attempts} attempts was started {'by' if warm else 'without'} the warm worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="dataset root (default: the shared photos)")
    parser.add_argument("--model", default="seed")
    parser.add_argument("--runs", type=int, default=5, help="runs per way of starting, interleaved")
    args = parser.parse_args()
    data = str(args.data or shared_data_or_exit())
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-", ignore_cleanup_errors=True) as scratch:
        timings, first_with_decoding = measure_all(data, args.model, args.runs, Path(scratch))
    figures = {f"{way}, s": summary(values) for way, values in timings.items() if values}
    figures["first run on new photos (decoding them), s"] = f"{first_with_decoding:.3g}"
    figures["target"] = "<= 5 s on CPU"
    report(f"start to first chart point, {args.model} model, {data}", figures)


def measure_all(data: str, model: str, repeats: int, scratch: Path) -> tuple[dict[str, list[float]], float]:
    """The first run on new photos (warm when the worker is available), then `repeats` starts of each way in turns."""
    os.environ["HOTDOG_CACHE_DIR"] = str(scratch / "cache")
    from hotdog import worker
    from hotdog.training import TrainConfig

    os.environ.pop(worker.NO_FORK_ENV, None)
    config = TrainConfig(data=data, model=model, epochs=1)
    warm_dir, spawn_dir = scratch / "warm", scratch / "spawn"
    warm = worker.available()
    first_with_decoding = measure(config, warm_dir if warm else spawn_dir, warm=warm)
    timings: dict[str, list[float]] = {"warm worker (Linux)": [], "spawned python -m hotdog train": []}
    for _ in range(repeats):
        if warm:
            timings["warm worker (Linux)"].append(measure(config, warm_dir, warm=True))
        timings["spawned python -m hotdog train"].append(measure(config, spawn_dir, warm=False))
    return timings, first_with_decoding


if __name__ == "__main__":
    main()
