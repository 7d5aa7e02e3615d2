"""App cold start: `streamlit run streamlit_app.py` -> /_stcore/health answers "ok" -> the page
HTML is served.

    python -m bench.app_cold_start [--repeats 5]

Each repeat starts a fresh server on a free port, with fresh runs and data folders, and stops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import REPO, free_port, report, summary


def answered(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def one_cold_start(scratch: Path, timeout: float = 120) -> tuple[float, float]:
    """Seconds from launching `streamlit run` to health answered, and to the page HTML served."""
    port = free_port()
    environment = {**os.environ, "HOTDOG_RUNS_DIR": str(scratch / "runs"), "HOTDOG_DATA_DIR": str(scratch / "data")}
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        while answered(f"http://127.0.0.1:{port}/_stcore/health") != b"ok":
            if server.poll() is not None or time.perf_counter() - started > timeout:
                raise SystemExit(f"streamlit did not answer on port {port} (exit code {server.poll()})")
            time.sleep(0.02)
        health = time.perf_counter() - started
        page = answered(f"http://127.0.0.1:{port}/")
        if not page or b"<html" not in page.lower():
            raise SystemExit("the page HTML was not served")
        return health, time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    health, page = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            seconds = one_cold_start(Path(scratch))
        health.append(seconds[0])
        page.append(seconds[1])
    report("app cold start, streamlit run -> health -> page HTML",
           {"health answered, s": summary(health), "page HTML served, s": summary(page), "target": "<= 5 s"})


if __name__ == "__main__":
    main()
