"""The Data page: what is in the dataset (counts, baseline, samples, problems) and every way to choose another one:
a server folder (allowed roots only), a zip, photos per class, and a download from a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import shutil
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

import hostile
from conftest import REPO, draw_photo, free_port, make_dataset
from hotdog import capture, workspace
from hotdog import download as download_module

PAGE = str(REPO / "app_pages" / "data.py")


@pytest.fixture
def data_dir(tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data folder, with the tiny dataset in use."""
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.delenv("HOTDOG_DATA_ROOTS", raising=False)
    workspace.use_dataset(tiny_dataset)
    return tmp_path / "appdata"


def open_page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def zipped(root: Path, wrapper: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*.jpg")):
            archive.write(path, f"{wrapper}{path.relative_to(root)}")
    return buffer.getvalue()


def test_counts_baseline_samples_and_problems(tmp_path, monkeypatch):
    root = make_dataset(tmp_path / "leaky", {"train": 10, "test": 3})
    shutil.copy(root / "train" / "hotdog" / "0.jpg", root / "test" / "hotdog" / "copied.jpg")  # leakage
    (root / "train" / "nohotdog" / "notes.jpg").write_text("not a photo")
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "appdata"))
    workspace.use_dataset(root)
    at = open_page()
    assert not at.exception
    assert at.markdown[0].value == "### In use: `leaky`"
    [chart] = at.get("vega_lite_chart")
    bars = dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
    counts = {(row.split, row["class"]): row.photos for _, row in bars.iterrows()}
    assert counts == {("train", "hotdog"): 8, ("train", "nohotdog"): 9, ("validation", "hotdog"): 2,
                      ("validation", "nohotdog"): 2, ("test", "hotdog"): 4, ("test", "nohotdog"): 3}
    text = [m.value for m in at.markdown]
    assert "**test**: always saying *hotdog* scores **57%**" in text
    assert [len(image.proto.imgs) for image in at.image] == [8, 8]  # readable samples only
    assert "1 unreadable file(s)" in at.error[0].value
    assert any("appear in two splits (leakage)" in warning.value for warning in at.warning)


@pytest.mark.slow
def test_a_folder_outside_the_allowed_roots_is_refused(data_dir, tiny_dataset, tmp_path, monkeypatch):
    other = make_dataset(tmp_path / "allowed" / "class-photos", {"train": 3})
    monkeypatch.setenv("HOTDOG_DATA_ROOTS", str(tmp_path / "allowed"))
    at = open_page()
    at.text_input(key="typed_folder").input(str(tiny_dataset)).run()
    at.button(key="use_typed").click().run()
    assert "is outside the allowed folders" in at.error[0].value
    assert workspace.current_dataset() == tiny_dataset.resolve()
    at.text_input(key="typed_folder").input("class-photos").run()
    at.button(key="use_typed").click().run()
    assert not at.error and at.success[0].value == f"Now using {other.resolve()}"
    assert workspace.current_dataset() == other.resolve()


def test_an_uploaded_zip_becomes_the_dataset_and_a_bad_one_leaves_nothing(data_dir, tiny_dataset):
    at = open_page()
    at.file_uploader(key="dataset_zip").set_value(("not-a-zip.zip", b"PK? no", "application/zip")).run()
    at.button(key="use_zip").click().run()
    assert at.error[0].value == "not a zip file (or a damaged one)"
    assert [p.name for p in data_dir.iterdir()] == [workspace.WORKSPACE_FILE]

    at.file_uploader(key="dataset_zip").set_value(("lunch.zip", zipped(tiny_dataset, "lunch/"), "application/zip"))
    at.run()
    at.button(key="use_zip").click().run()
    assert not at.error and workspace.current_dataset() == (data_dir / "lunch" / "lunch").resolve()
    assert at.markdown[0].value == "### In use: `lunch`"
    assert workspace.current_dataset() in [Path(option) for option in at.selectbox(key="known_folder").options]


def test_photos_uploaded_per_class_become_a_dataset(data_dir, tiny_dataset):
    at = open_page()
    assert at.button(key="use_photos").disabled
    for label in ("hotdog", "nohotdog"):
        photos = sorted((tiny_dataset / "train" / label).glob("*.jpg"))[:5]
        at.file_uploader(key=f"{label}_photos").set_value([(p.name, p.read_bytes(), "image/jpeg") for p in photos])
    at.text_input(key="photos_name").input("Class 4B").run()
    at.button(key="use_photos").click().run()
    assert not at.error and workspace.current_dataset() == (data_dir / "Class-4B").resolve()
    assert json.loads((data_dir / workspace.WORKSPACE_FILE).read_text())["dataset"].endswith("Class-4B")


def take_photo(at: AppTest, photo: bytes) -> AppTest:
    """What the browser sends when the camera button is pressed: one JPEG; the page then offers a fresh camera."""
    [camera] = at.camera_input
    return camera.set_value(("image.jpg", photo, "image/jpeg")).run()


def photo_counts(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.mark.slow
def test_taking_photos_fills_each_class_live_with_undo_then_use(data_dir, tiny_dataset):
    hotdogs, others = ([path.read_bytes() for path in sorted((tiny_dataset / "test" / label).glob("*.jpg"))]
                       for label in ("hotdog", "nohotdog"))
    at = open_page()
    assert "Take photos" in [tab.label for tab in at.tabs]
    at.text_input(key="capture_name").input("class 7b").run()
    for photo in hotdogs[:3]:
        take_photo(at, photo)
    assert photo_counts(at) == {"Hotdog photos": "3", "Not hotdog photos": "0"}
    assert at.button(key="capture_use").disabled and at.camera_input[0].label == "Take a hotdog photo"
    at.segmented_control(key="capture_class").set_value("nohotdog").run()
    for photo in others[:2]:
        take_photo(at, photo)
    take_photo(at, b"\xff\xd8\xff not a photo")
    assert at.error[0].value.startswith("Not kept: not an image")
    assert photo_counts(at) == {"Hotdog photos": "3", "Not hotdog photos": "2"}
    assert [len(image.proto.imgs) for image in at.image[:2]] == [3, 2]  # the newest of each class, then samples
    at.button(key="capture_undo").click().run()
    assert photo_counts(at) == {"Hotdog photos": "3", "Not hotdog photos": "1"}
    assert at.button(key="capture_use").disabled
    take_photo(at, others[2])
    at.button(key="capture_use").click().run()
    root = (data_dir / "class-7b").resolve()
    assert not at.error and at.success[0].value == f"Now using {root}" and workspace.current_dataset() == root
    assert sorted(path.read_bytes() for path in root.rglob("*.jpg")) == sorted(hotdogs[:3] + [others[0], others[2]])


def test_the_camera_and_its_buttons_are_for_the_teacher(data_dir, tiny_dataset, monkeypatch):
    photo = sorted((tiny_dataset / "test" / "hotdog").glob("*.jpg"))[0].read_bytes()
    root = data_dir / "camera-photos"
    for index in range(2):  # photos taken earlier, so that undo and use have something to act on
        for label in ("hotdog", "nohotdog"):
            capture.add_photo(root, label, photo)
    monkeypatch.setenv("HOTDOG_TEACHER_PASSWORD", "mustard")
    at = open_page()
    [camera] = at.camera_input
    assert camera.disabled and at.button(key="capture_undo").disabled and at.button(key="capture_use").disabled
    camera.proto.disabled = False  # a crafted message sends a photo anyway
    camera.set_value(("image.jpg", photo, "image/jpeg")).run()
    for key in ("capture_undo", "capture_use"):
        at.button(key=key).proto.disabled = False
        at.button(key=key).click().run()
    assert capture.counts(root) == {"hotdog": 2, "nohotdog": 2} and workspace.current_dataset() == tiny_dataset
    at.text_input(key="teacher_password").input("mustard").run()
    take_photo(at, photo)
    assert capture.counts(root) == {"hotdog": 3, "nohotdog": 2}


@pytest.fixture
def dataset_server(tiny_dataset: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A local HTTP server on 127.0.0.1 serving the tiny dataset as hotdog.zip; yields (address, SHA-1)."""
    served = tmp_path / "served"
    served.mkdir()
    content = zipped(tiny_dataset, "hotdog/")
    (served / "hotdog.zip").write_bytes(content)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hotdog.zip", hashlib.sha1(content).hexdigest()
    server.shutdown()
    server.server_close()


def download(at: AppTest, url: str, sha1: str) -> AppTest:
    at.toggle(key="download_other").set_value(True).run()
    at.text_input(key="download_url").input(url)
    at.text_input(key="download_sha1").input(sha1)
    at.run()
    return at.button(key="use_download").click().run()


def test_the_known_dataset_is_the_default_download(data_dir):
    at = open_page()
    assert not at.button(key="use_download").disabled
    assert "download_url" not in [field.key for field in at.text_input]  # no address field until asked for
    at.toggle(key="download_other").set_value(True).run()
    assert at.button(key="use_download").disabled  # an empty address
    assert at.text_input(key="download_url").value == ""


@pytest.mark.slow
def test_download_checks_the_checksum_and_gives_one_neutral_line_for_network_failures(
    data_dir, dataset_server, monkeypatch
):
    url, sha1 = dataset_server
    monkeypatch.setenv(download_module.ALLOW_PRIVATE_ENV, "1")  # our server plays a mirror on the school's LAN
    at = download(open_page(), url, "0" * 40)
    assert "is not the expected one" in at.error[0].value and workspace.current_dataset() != data_dir / "hotdog"
    download(at, url, sha1)
    assert not at.error and workspace.current_dataset() == (data_dir / "hotdog" / "hotdog").resolve()
    closed = free_port()  # nobody listens there: what an offline classroom sees
    download(at, f"http://127.0.0.1:{closed}/hotdog.zip", sha1)
    refused = at.error[0].value
    download(at, url.replace("hotdog.zip", "missing.zip"), sha1)
    assert at.error[0].value == refused and refused.startswith("Could not download from 127.0.0.1: ")


@pytest.mark.slow
def test_a_download_from_the_servers_own_network_is_refused(data_dir, dataset_server, tiny_dataset, monkeypatch):
    monkeypatch.delenv(download_module.ALLOW_PRIVATE_ENV, raising=False)
    url, sha1 = dataset_server
    for address in (url, "http://169.254.169.254/latest/meta-data/", url.replace("127.0.0.1", "localhost")):
        at = download(open_page(), address, sha1)
        assert "is on a local or private network: downloads from there are off" in at.error[0].value, address
    assert workspace.current_dataset() == tiny_dataset.resolve()
    assert [p.name for p in data_dir.iterdir()] == [workspace.WORKSPACE_FILE]


@pytest.mark.parametrize("typed, reason", hostile.TYPED_PATHS)
def test_a_hostile_typed_folder_gets_one_error_line(data_dir, tiny_dataset, typed, reason):
    """A NUL byte in the typed folder used to show a raw ValueError on the page."""
    at = open_page()
    at.text_input(key="typed_folder").input(typed).run()
    at.button(key="use_typed").click().run()
    assert not at.exception, [exception.value for exception in at.exception]
    [error] = at.error
    assert reason in error.value and "\n" not in error.value
    assert workspace.current_dataset() == tiny_dataset.resolve()


def test_photos_linking_out_of_the_allowed_folders_are_never_shown(data_dir, tmp_path):
    links = hostile.dataset_linking_out(data_dir / "linked", tmp_path / "outside",
                                        lambda path: draw_photo(path, False, 3))
    workspace.use_dataset(data_dir / "linked")
    at = open_page()
    assert not at.exception
    samples = [path for paths in workspace.sample_photos(data_dir / "linked", 8).values() for path in paths]
    assert not any(path.resolve().is_relative_to((tmp_path / "outside").resolve()) for path in samples)
    assert sum(len(images.proto.imgs) for images in at.image) == len(samples) == 7  # what train holds, links out not
    assert any("link leading outside the allowed folders" in str(table.value) for table in at.dataframe)
    assert links["photo"].exists()
