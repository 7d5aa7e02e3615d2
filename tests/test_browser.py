"""The whole app in a real browser: `streamlit run` on this computer's LAN address (as students reach it; on
127.0.0.1 when it has none), driven by Debian's headless Chromium.

A fresh server draws the demo data on Home and shares the Predict page's address, trains a short run on Train
(the charts must appear, then "completed"), gives verdicts and a heatmap for uploaded photos on Predict, scores
the run on Evaluate, compares and renames it on Runs, and shows Train in projector mode. A phone-sized browser
with a (fake) camera takes a photo on Predict and must see it and its verdict without scrolling. Each view is saved
as a screenshot: into a temporary folder, or into docs/screenshots/ for the README with `--refresh-screenshots`.
Never downloads a browser: without /usr/bin/chromium the test skips.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO, free_port
from hotdog import runs, share

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1100}
#: A phone held upright (iPhone 12-15 class), and what Chromium needs to give it a camera: a fake one, no prompt.
PHONE = {"width": 390, "height": 844}
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
#: Milliseconds: drawing the demo data and a first training on a busy 2-core machine can take a while.
SLOW_MS = 240_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's chromium "
                                                     f"(apt-get install chromium) to run the real-browser test"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")


@dataclass(frozen=True)
class App:
    url: str
    folder: Path

    @property
    def on_loopback(self) -> bool:
        return self.url.startswith("http://127.")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A real `streamlit run` of the app with empty runs and data folders; stopped with everything it started."""
    folder = tmp_path_factory.mktemp("browser-app")
    port = free_port()
    address = (share.lan_addresses() or ["127.0.0.1"])[0]
    env = {**os.environ, "HOTDOG_RUNS_DIR": str(folder / "runs"), "HOTDOG_DATA_DIR": str(folder / "data")}
    env.pop("HOTDOG_TEACHER_PASSWORD", None)
    log = open(folder / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                               "--server.headless", "true", "--server.port", str(port),
                               "--server.address", address], cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{address}:{port}"
    try:
        wait_until_healthy(url, server, folder / "server.log")
        yield App(url, folder)
    finally:
        stop_trainings(folder / "runs")
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"streamlit did not answer within {timeout} s:\n{log.read_text()}")


def stop_trainings(runs_dir: Path) -> None:
    """Training processes outlive the server by design; a test must not leave one behind."""
    for run in runs.list_runs(runs_dir):
        if run.state in runs.ACTIVE_STATES:
            os.kill(run.status["pid"], signal.SIGTERM)


@pytest.fixture(scope="module")
def browser(app: App) -> Iterator["sync_api.Browser"]:
    """Chromium with a fake camera; the app's LAN address counts as secure there, as HTTPS would make it."""
    secure = [] if app.on_loopback else [f"--unsafely-treat-insecure-origin-as-secure={app.url}"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + FAKE_CAMERA_ARGS
                                             + secure)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser) -> Iterator["sync_api.Page"]:
    tab = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    tab.set_default_timeout(60_000)
    yield tab
    tab.close()


@pytest.fixture(scope="module")
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots/ with --refresh-screenshots, else a temporary folder: a test run never changes the tree."""
    if request.config.getoption("--refresh-screenshots"):
        return REPO / "docs" / "screenshots"
    return tmp_path_factory.mktemp("screenshots")


def screenshot(page, folder: Path, name: str) -> None:
    page.wait_for_timeout(800)  # let charts finish drawing
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def open_page(page, title: str) -> None:
    """Navigate with the app's own navigation bar, as a user does (the session and its state survive)."""
    page.get_by_role("link", name=title, exact=True).first.click()
    page.locator("h1").filter(has_text=title).wait_for()


def set_number(page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(500)


def loaded(image) -> None:
    """Wait until a picture has really arrived and been decoded, not only laid out."""
    image.wait_for()
    image.page.wait_for_function("picture => picture.complete && picture.naturalWidth > 0",
                                 arg=image.element_handle())


def test_train_then_predict_in_a_real_browser(app, page, screenshots, record_property):
    page.goto(app.url)
    page.get_by_text("Dataset in use", exact=True).wait_for(timeout=SLOW_MS)
    page.get_by_text("The dataset in use is the built-in demo data: synthetic drawings").wait_for()
    screenshot(page, screenshots, "home")
    if not app.on_loopback:  # the Share panel gives the address this very browser reached the app at
        page.get_by_text(f"{app.url}/predict", exact=True).wait_for()
        loaded(page.locator("[data-testid=stImage] img").last)  # the QR code
        page.get_by_text("Scan to open the Predict page").scroll_into_view_if_needed()
        screenshot(page, screenshots, "share")

    open_page(page, "Data")
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for(timeout=SLOW_MS)
    page.get_by_text("Sample photos").wait_for()
    screenshot(page, screenshots, "data")

    open_page(page, "Train")
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Seed CNN (the blog post)").click()
    set_number(page, "epochs-seed", 3)
    set_number(page, "size-seed", 64)
    page.get_by_role("button", name="Start training").click()
    started = time.time()
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for(timeout=SLOW_MS)
    first_chart_s = time.time() - started
    record_property("start_to_first_chart_s", round(first_chart_s, 1))
    print(f"\nStart -> first chart point in the browser: {first_chart_s:.1f} s")
    screenshot(page, screenshots, "train-live")
    page.get_by_text("Training completed").wait_for(timeout=SLOW_MS)
    sync_api.expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(4)  # loss, accuracy x batch, epoch
    screenshot(page, screenshots, "train")

    open_page(page, "Predict")
    test_photos = app.folder / "data" / "demo" / "test"
    uploads = [sorted((test_photos / label).glob("*.jpg"))[0] for label in ("hotdog", "nohotdog")]
    broken = {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"this is not a photo"}
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(
        [*({"name": path.name, "mimeType": "image/jpeg", "buffer": path.read_bytes()} for path in uploads), broken])
    verdicts = page.get_by_text(re.compile(r"^(Hotdog!|Not hotdog!)$"))
    verdicts.nth(1).wait_for(timeout=SLOW_MS)
    page.get_by_text("Cannot read this photo").wait_for()
    assert verdicts.count() == 2
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the results (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["path"] for row in rows] == [path.name for path in uploads] + ["broken.jpg"]
    assert [{"hotdog": "Hotdog!", "nohotdog": "Not hotdog!"}[row["verdict"]] for row in rows[:2]] == \
        verdicts.all_inner_texts()
    assert rows[2]["error"].startswith("not an image")
    page.locator("h1").first.scroll_into_view_if_needed()
    screenshot(page, screenshots, "predict")
    page.get_by_text("Why? Show where it looked").first.click()
    caption = page.get_by_text(re.compile(r"^Red: where the network found the evidence for"))
    caption.wait_for(timeout=SLOW_MS)
    assert caption.inner_text().endswith(f"\u201c{verdicts.first.inner_text()}\u201d (Grad-CAM).")
    loaded(page.locator("[data-testid=stImage] img").first)
    screenshot(page, screenshots, "predict-why")

    open_page(page, "Evaluate")
    page.get_by_role("button", name="Score the test photos").click()
    page.get_by_text("Mistakes at threshold 0.50").wait_for(timeout=SLOW_MS)
    sync_api.expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(3)  # confusion, ROC, PR
    screenshot(page, screenshots, "evaluate")
    mistakes = int(page.get_by_text("Mistakes at threshold 0.50").inner_text().rsplit(" ", 1)[1])
    if mistakes:  # the gallery, then the same photos with where the network looked
        first = page.locator("[data-testid=stImage] img").first
        plain = first.get_attribute("src")
        page.get_by_text("Why? Show where it looked").click()
        page.wait_for_function("plain => document.querySelector('[data-testid=stImage] img').src !== plain",
                               arg=plain, timeout=SLOW_MS)
        loaded(first)
        page.get_by_text("Mistakes at threshold 0.50").evaluate("title => title.scrollIntoView({block: 'start'})")
        screenshot(page, screenshots, "evaluate-why")

    open_page(page, "Runs")
    sync_api.expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(2)  # accuracy and loss
    [run] = runs.list_runs(app.folder / "runs")
    screenshot(page, screenshots, "runs")
    page.get_by_role("tab", name="Rename").click()
    page.locator(".st-key-rename-name input").fill("first-demo")
    page.locator(".st-key-rename-name input").press("Enter")
    page.get_by_role("button", name="Rename").click()
    renamed = f"{run.id[:15]}-first-demo-{run.id[-4:]}"
    page.get_by_text(f"Renamed to {renamed}").wait_for()
    assert [listed.id for listed in runs.list_runs(app.folder / "runs")] == [renamed]

    open_page(page, "Train")
    page.get_by_text("Projector mode", exact=True).click()
    page.get_by_role("button", name="Exit projector mode").wait_for()
    sync_api.expect(page.locator("[data-testid=stSidebar]")).to_be_hidden()
    sync_api.expect(page.locator("[data-testid=stVegaLiteChart]")).to_have_count(4)
    screenshot(page, screenshots, "train-projector")
    page.get_by_role("button", name="Exit projector mode").click()
    sync_api.expect(page.get_by_role("button", name="Exit projector mode")).to_have_count(0)
    sync_api.expect(page.locator("[data-testid=stSidebar]")).to_be_visible()


def test_on_a_phone_the_photo_just_taken_and_its_verdict_need_no_scrolling(app, browser, screenshots):
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                permissions=["camera"])
    page = phone.new_page()
    page.set_default_timeout(SLOW_MS)
    page.goto(f"{app.url}/predict")
    page.get_by_text("Use the camera").click()
    # Tap the button where a person sees it: once the camera streams and the widget has settled, the button sits in
    # view and stays there (a click on a button below the fold would make the browser scroll to it first).
    button = page.get_by_role("button", name="Take Photo")
    page.wait_for_function("() => { const video = document.querySelector('video');"
                           "        return video !== null && video.videoWidth > 0; }")
    settled = None
    while settled != (settled := button.bounding_box()["y"]):
        page.wait_for_timeout(1000)
    assert settled + button.bounding_box()["height"] <= PHONE["height"], "the camera button is below the fold"
    button.click()
    verdict = page.locator(".hotdog-verdict").first
    verdict.wait_for()
    photo = page.locator("[data-testid=stImage] img").first
    loaded(photo)
    page.wait_for_timeout(500)
    assert page.evaluate("document.querySelector('[data-testid=stMain]').scrollTop") == 0
    for element in (photo, verdict):
        box = element.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], f"below the fold: {box}"
    assert verdict.inner_text() in ("Hotdog!", "Not hotdog!")
    sync_api.expect(page.get_by_text("Threshold: P(hotdog) needed to say Hotdog!")).to_be_hidden()  # in Settings
    screenshot(page, screenshots, "predict-phone")
    phone.close()
