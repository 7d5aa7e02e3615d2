"""A class watching one laptop: server CPU with N live viewers on the Train page while a `seed` run trains.

    python -m bench.viewers [--viewers 0 1 10 30] [--seconds 30] [--image-size 120] [--min-events 0] [--app DIR]

Starts `streamlit run streamlit_app.py` (from `--app`, default this repository) on a free port with fresh runs and
data folders and the demo data in use. A teacher's page (headless Chromium) opens Train, waits for the app's warm
worker, sets the epochs (1000) and the image size, and presses Start training, as a teacher does; the time from the
click to the first batch written, and to the first chart on that page, is printed. Once the run holds
`--min-events` batch events, for each N in turn N phone-sized pages of the same browser watch Train (added or
closed between steps; the teacher's page is closed first), and, after a settling pause, for `--seconds`:

- server CPU: the Streamlit process's CPU seconds (user + system, all its threads) per second of wall time, in
  percent of one core;
- polls per viewer per second: the fragment reruns the pages asked for (one WebSocket message each); the server
  CPU per poll; and that CPU per poll times N: the server's share at exactly one update a second per viewer, for
  when the browsers, all on this one machine, cannot keep up with one a second;
- the run's epoch time, from the batch events written meanwhile (steps per epoch / steps per second).

The load average is printed with each step: the server's CPU per wall second depends little on it, epoch times do.
`--image-size 32` trains the same model several times faster, so `--min-events 4000` is reached in minutes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.app_cold_start import answered
from bench.common import REPO, free_port, report

CHROMIUM = "/usr/bin/chromium"
#: The real-browser test's flags, plus: every page keeps its timers running, as each student's own phone would.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
#: The teacher's laptop, and a student's phone.
LAPTOP, PHONE = {"width": 1400, "height": 1100}, {"width": 412, "height": 915}
CHART = "[data-testid='stVegaLiteChart']"
EPOCHS = 1000


def start_server(app: Path, scratch: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run` in its own process group, and its address once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=app, stdout=open(scratch / "server.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 120
    while answered(f"{url}/_stcore/health") != b"ok":
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"streamlit did not start; see {scratch / 'server.log'}")
        time.sleep(0.2)
    return server, url


class Pages:
    """Pages of one headless Chromium on the Train page, each counting the polls it sends."""

    def __init__(self, browser, url: str) -> None:
        self.browser, self.url = browser, url
        self.pages: list = []
        self.polls: dict[int, int] = {}

    def open(self, viewport: dict = PHONE):
        page = self.browser.new_page(viewport=viewport)
        page.set_default_timeout(300_000)
        index = len(self.polls)
        self.polls[index] = 0
        page.on("websocket", lambda socket: socket.on(
            "framesent", lambda _frame: self.polls.__setitem__(index, self.polls[index] + 1)))
        page.goto(f"{self.url}/train", wait_until="commit")
        self.pages.append(page)
        return page

    def resize(self, count: int) -> None:
        """Keep `count` pages watching, each showing the charts (new pages load side by side)."""
        while len(self.pages) > count:
            self.pages.pop().close()
        for page in [self.open() for _ in range(count - len(self.pages))]:
            page.locator(CHART).first.wait_for()
        print(f"  {count} viewers watching", file=sys.stderr, flush=True)

    def wait(self, seconds: float) -> None:
        """Let time pass while Playwright delivers the pages' events (it does so only inside its own calls)."""
        if self.pages:
            self.pages[0].wait_for_timeout(seconds * 1000)
        else:
            time.sleep(seconds)

    def sent(self) -> int:
        return sum(self.polls.values())


def press_start(teacher, runs_dir: Path, image_size: int) -> tuple[float, float]:
    """Start a long `seed` run from the teacher's page; seconds from the click to the first batch event written,
    and to the first chart drawn on that page."""
    from hotdog import runs, worker

    deadline = time.time() + 300
    while worker.ping(runs_dir) is None:  # the app starts its warm worker with the first session
        if time.time() > deadline:
            raise SystemExit(f"the app's warm worker did not become ready; see {runs_dir}/.worker.log")
        time.sleep(0.5)
    for key, value in (("epochs-seed", EPOCHS), ("size-seed", image_size)):
        field = teacher.locator(f".st-key-{key} input")
        field.fill(str(value))
        field.press("Enter")
        teacher.wait_for_timeout(1000)
    clicked = time.time()
    teacher.get_by_role("button", name="Start training").click()
    teacher.locator(CHART).first.wait_for()
    drawn = time.time()
    [run] = runs.list_runs(runs_dir)
    first = next(event for event in run.metrics() if event.get("event") == "batch")
    return first["time"] - clicked, drawn - clicked


def batch_events(run) -> list[dict]:
    return [event for event in run.metrics() if event.get("event") == "batch"]


def measure(server_pid: int, run, pages: Pages, seconds: float, viewers: int) -> dict:
    import psutil

    server = psutil.Process(server_pid)
    times, sent, started = server.cpu_times(), pages.sent(), time.time()
    before = batch_events(run)
    pages.wait(seconds)
    after, wall = server.cpu_times(), time.time() - started
    cpu, polls = after.user + after.system - times.user - times.system, pages.sent() - sent
    during = [event for event in batch_events(run) if started <= event["time"] <= started + wall]
    epoch_s = (during[-1]["steps"] * (during[-1]["time"] - during[0]["time"]) /
               (during[-1]["global_step"] - during[0]["global_step"])) if len(during) > 1 else float("nan")
    return {"viewers": viewers, "server CPU, % of one core": round(100 * cpu / wall, 1),
            "polls per viewer per s": round(polls / wall / viewers, 2) if viewers else None,
            "server CPU per poll, ms": round(1000 * cpu / polls, 1) if polls else None,
            "at one poll per viewer per s, % of one core": round(100 * cpu / polls * viewers, 1) if polls else None,
            "epoch time, s": round(epoch_s, 2), "batch events in the run": len(before),
            "load average (1 min)": round(os.getloadavg()[0], 2)}


def watch(args: argparse.Namespace, scratch: Path) -> tuple[dict, list[dict]]:
    """Start the server and the run, then measure each viewer count in turn; stops everything it started."""
    from playwright.sync_api import sync_playwright

    from hotdog import runs, workspace

    workspace.use_demo_data()
    server, url = start_server(args.app.resolve(), scratch)
    runs_dir = scratch / "runs"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = Pages(browser, url)
            first_batch_s, first_chart_s = press_start(pages.open(LAPTOP), runs_dir, args.image_size)
            start = {"Start -> first batch written, s": round(first_batch_s, 2),
                     "Start -> first chart on the teacher's page, s": round(first_chart_s, 2)}
            print(start, flush=True)
            [run] = runs.list_runs(runs_dir)
            while len(batch_events(run)) < args.min_events:
                pages.wait(2)
            pages.resize(0)  # the teacher's page goes: N viewers are N pages
            rows = []
            for count in args.viewers:
                pages.resize(count)
                pages.wait(args.settle)
                rows.append(measure(server.pid, run, pages, args.seconds, count))
                print(rows[-1], flush=True)
            browser.close()
        return start, rows
    finally:
        for run in runs.list_runs(runs_dir):
            if run.state in runs.ACTIVE_STATES and run.status.get("pid"):
                os.kill(run.status["pid"], signal.SIGTERM)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, nargs="+", default=[0, 1, 10, 30], help="viewer counts, in order")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring time per viewer count")
    parser.add_argument("--settle", type=float, default=5.0, help="pause after the pages open, before measuring")
    parser.add_argument("--image-size", type=int, default=120, help="the run's image size (seed's default: 120)")
    parser.add_argument("--min-events", type=int, default=0, help="batch events the run holds before measuring")
    parser.add_argument("--app", type=Path, default=REPO, help="folder holding the streamlit_app.py to serve")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # still stop the server and the run
    with tempfile.TemporaryDirectory(prefix="hotdog-viewers-", ignore_cleanup_errors=True) as scratch:
        os.environ.update(HOTDOG_RUNS_DIR=f"{scratch}/runs", HOTDOG_DATA_DIR=f"{scratch}/data",
                          HOTDOG_CACHE_DIR=f"{scratch}/cache")
        os.environ.pop("HOTDOG_TEACHER_PASSWORD", None)
        start, rows = watch(args, Path(scratch))
    figures = {**start, **{f"{row['viewers']} viewers": {key: value for key, value in row.items() if key != "viewers"}
                           for row in rows}}
    figures["run"] = f"seed, {args.image_size} px, demo data"
    figures["app"] = str(args.app.resolve())
    report("server CPU with N live viewers on the Train page", figures)


if __name__ == "__main__":
    main()
