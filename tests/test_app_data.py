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

from conftest import REPO, free_port, make_dataset
from hotdog import workspace

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
    at.text_input(key="download_url").input(url)
    at.text_input(key="download_sha1").input(sha1)
    at.run()
    return at.button(key="use_download").click().run()


def test_download_checks_the_checksum_and_says_when_offline(data_dir, dataset_server):
    url, sha1 = dataset_server
    at = download(open_page(), url, "0" * 40)
    assert "is not the expected one" in at.error[0].value and workspace.current_dataset() != data_dir / "hotdog"
    download(at, url, sha1)
    assert not at.error and workspace.current_dataset() == (data_dir / "hotdog" / "hotdog").resolve()
    closed = free_port()  # nobody listens there: what an offline classroom sees
    download(at, f"http://127.0.0.1:{closed}/hotdog.zip", sha1)
    assert "you seem to be offline" in at.error[0].value
