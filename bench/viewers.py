"""A class watching one laptop: server CPU with N live viewers on the Train page while a `seed` run trains.

    python -m bench.viewers [--viewers 0 1 10 30] [--seconds 30] [--app DIR]

Starts `streamlit run streamlit_app.py` (from `--app`, default this repository) on a free port with fresh runs and
data folders, draws the demo data, opens one page so the app starts its warm worker, then starts a `seed` run on
the demo data the way the Train page does. For each N in turn it keeps N headless Chromium pages on /train (one
browser, N pages; added or closed between steps) and, after a settling pause, measures for `--seconds`:

- the server process's CPU seconds (user + system, all its threads) per second of wall time, 100% = one core;
- the run's epoch time, from the batch events it wrote meanwhile (steps per epoch / steps per second);
- chart updates per viewer per second, counted from what the pages receive (one update = one finished fragment
  run, a WebSocket message the browser gets), to show the viewers really poll once a second.

The load average is printed with each step: the figure that counts, CPU per wall second of the server, depends
little on it; epoch times do.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.app_cold_start import answered, free_port
from bench.common import REPO, report

CHROMIUM = "/usr/bin/chromium"
#: The real-browser test's flags, plus: every page keeps its timers running, as each student's phone would.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
VIEWPORT = {"width": 1400, "height": 1100}


def start_server(app: Path, scratch: Path) -> subprocess.Popen:
    port = free_port()
    log = open(scratch / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=app, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    server.url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while answered(f"{server.url}/_stcore/health") != b"ok":
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"streamlit did not start; see {scratch / 'server.log'}")
        time.sleep(0.2)
    return server


def start_training(runs_dir: Path, dataset: Path):
    """A long `seed` run on the demo data, handed to the app's warm worker as the Start button does."""
    from hotdog import runs, training, worker

    deadline = time.time() + 300
    while worker.ping(runs_dir) is None:
        if time.time() > deadline:
            raise SystemExit(f"the app's warm worker did not become ready; see {runs_dir}/.worker.log")
        time.sleep(0.5)
    run = training.start_training_process(training.TrainConfig(data=str(dataset), model="seed", epochs=1000),
                                          runs_dir)
    while not any(event.get("event") == "batch" for event in run.metrics()):
        if run.state == "failed":
            raise SystemExit(f"the run failed: {run.status.get('error')}; see {run.path / runs.LOG}")
        time.sleep(0.2)
    return run


class Viewers:
    """N pages of one headless Chromium on the Train page, each counting the updates it receives."""

    def __init__(self, browser, url: str) -> None:
        self.browser, self.url = browser, url
        self.pages: list = []
        self.received: dict[int, int] = {}

    def resize(self, count: int) -> None:
        while len(self.pages) > count:
            self.pages.pop().close()
        while len(self.pages) < count:
            page = self.browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(180_000)
            index = len(self.pages)
            self.received[index] = 0
            page.on("websocket", lambda socket, i=index: socket.on(
                "framereceived", lambda _frame: self.received.__setitem__(i, self.received[i] + 1)))
            page.goto(f"{self.url}/train")
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
            self.pages.append(page)

    def wait(self, seconds: float) -> None:
        """Sleep, letting Playwright deliver the pages' events meanwhile (it does so only inside its own calls)."""
        if self.pages:
            self.pages[0].wait_for_timeout(seconds * 1000)
        else:
            time.sleep(seconds)

    def messages(self) -> int:
        return sum(self.received[index] for index in range(len(self.pages)))


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def global_step_at(run, when: float) -> tuple[float, int, int]:
    """(time, global step, steps per epoch) of the last batch event written before `when`."""
    last = [event for event in run.metrics() if event.get("event") == "batch" and event["time"] <= when][-1]
    return last["time"], last["global_step"], last["steps"]


def measure(server, run, viewers: Viewers, seconds: float) -> dict:
    import psutil

    process = psutil.Process(server.pid)
    messages, cpu, started = viewers.messages(), cpu_seconds(process), time.time()
    events_before = sum(event.get("event") == "batch" for event in run.metrics())
    viewers.wait(seconds)
    cpu, wall, messages = cpu_seconds(process) - cpu, time.time() - started, viewers.messages() - messages
    (t0, step0, steps), (t1, step1, _) = global_step_at(run, started), global_step_at(run, started + wall)
    epoch_s = steps * (t1 - t0) / (step1 - step0) if step1 > step0 else float("nan")
    count = len(viewers.pages)
    return {"viewers": count, "server CPU, % of one core": round(100 * cpu / wall, 1),
            "epoch time, s": round(epoch_s, 2),
            "messages per viewer per s": round(messages / wall / count, 2) if count else None,
            "batch events in the run": events_before, "load average (1 min)": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, nargs="+", default=[0, 1, 10, 30], help="viewer counts, in order")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring time per viewer count")
    parser.add_argument("--settle", type=float, default=5.0, help="pause after the pages open, before measuring")
    parser.add_argument("--app", type=Path, default=REPO, help="folder holding the streamlit_app.py to serve")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="hotdog-viewers-", ignore_cleanup_errors=True) as scratch_name:
        scratch = Path(scratch_name)
        os.environ.update(HOTDOG_RUNS_DIR=str(scratch / "runs"), HOTDOG_DATA_DIR=str(scratch / "data"),
                          HOTDOG_CACHE_DIR=str(scratch / "cache"))
        os.environ.pop("HOTDOG_TEACHER_PASSWORD", None)
        from hotdog import runs, workspace

        dataset = workspace.use_demo_data()
        server = start_server(args.app.resolve(), scratch)
        run = None
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                home = browser.new_page()
                home.goto(server.url)  # the first session starts the app's warm worker
                run = start_training(scratch / "runs", dataset)
                home.close()
                viewers, rows = Viewers(browser, server.url), []
                for count in args.viewers:
                    viewers.resize(count)
                    viewers.wait(args.settle)
                    rows.append(measure(server, run, viewers, args.seconds))
                    print(rows[-1], flush=True)
                browser.close()
        finally:
            if run is not None:
                run.request_stop()
                pid = run.status.get("pid")
                deadline = time.time() + 60
                while run.state in runs.ACTIVE_STATES and time.time() < deadline:
                    time.sleep(0.2)
                if run.state in runs.ACTIVE_STATES and pid:
                    os.kill(pid, signal.SIGTERM)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    figures = {f"{row['viewers']} viewers": {key: value for key, value in row.items() if key != "viewers"}
               for row in rows}
    figures["app"] = str(args.app.resolve())
    figures["median load average"] = statistics.median(row["load average (1 min)"] for row in rows)
    report("server CPU with N live viewers on the Train page, seed run on the demo data", figures)


if __name__ == "__main__":
    main()
