"""Downloading a dataset zip from a local HTTP server on 127.0.0.1: success, bad checksum, HTTP and network errors."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from conftest import free_port
from hotdog import download
from hotdog.download import DownloadError, download_dataset

OFFLINE = "you seem to be offline. Use the built-in demo data or upload a zip instead."


def d2l_style_zip() -> bytes:
    """A tiny dataset in the d2l layout: hotdog/{train,test}/{hotdog,not-hotdog}/*.jpg."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for split in ("train", "test"):
            for label, color in (("hotdog", "red"), ("not-hotdog", "green")):
                for index in range(2):
                    photo = io.BytesIO()
                    Image.new("RGB", (16, 16), color).save(photo, "JPEG")
                    archive.writestr(f"hotdog/{split}/{label}/{index}.jpg", photo.getvalue())
    return buffer.getvalue()


ZIP = d2l_style_zip()
SHA1 = hashlib.sha1(ZIP).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves /hotdog.zip, a /short.zip that promises more bytes than it sends, a /stalled.zip that stops
    sending halfway, and 404 for the rest."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path not in ("/hotdog.zip", "/short.zip", "/stalled.zip"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(ZIP) + (100 if self.path == "/short.zip" else 0)))
        self.end_headers()
        if self.path == "/stalled.zip":
            self.wfile.write(ZIP[:1000])
            self.wfile.flush()
            time.sleep(3)
        self.wfile.write(ZIP)

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_reports_progress_and_unpacks(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "_CHUNK", 512)  # several chunks from a small file
    calls: list[tuple[int, int | None]] = []
    root = download_dataset(f"{server}/hotdog.zip", SHA1, data_root=tmp_path, progress=lambda *call: calls.append(call))
    assert root == tmp_path / "hotdog" / "hotdog"
    assert sorted(path.name for path in (root / "train").iterdir()) == ["hotdog", "not-hotdog"]
    assert len(list((root / "test" / "not-hotdog").iterdir())) == 2
    assert [path.name for path in tmp_path.iterdir()] == ["hotdog"]  # the temporary zip is gone
    done = [bytes_done for bytes_done, _ in calls]
    assert len(calls) > 2 and done == sorted(set(done)) and calls[-1] == (len(ZIP), len(ZIP))


def test_checksum_mismatch_is_refused_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"SHA-1 {SHA1}, expected {'0' * 40}"):
        download_dataset(f"{server}/hotdog.zip", "0" * 40, data_root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_http_error_names_the_status(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="127.0.0.1 answered HTTP 404 Not Found"):
        download_dataset(f"{server}/missing.zip", None, data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"Download from 127.0.0.1 stopped early \([\d,]+ of [\d,]+ bytes\)"):
        download_dataset(f"{server}/short.zip", None, data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_stalled_download_times_out_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"Download from 127.0.0.1 failed after [\d.]+ MB \(timed out\)"):
        download_dataset(f"{server}/stalled.zip", None, data_root=tmp_path, timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_says_offline(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(DownloadError, match=f"Could not reach 127.0.0.1 .*{OFFLINE}"):
        download_dataset(f"http://127.0.0.1:{port}/hotdog.zip", data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_unresolvable_host_says_offline(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"Could not reach nonexistent.invalid .*{OFFLINE}"):
        download_dataset("http://nonexistent.invalid/x.zip", data_root=tmp_path, timeout=5)


def test_only_http_urls_are_fetched(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="Not an http:// or https:// address: file:///etc/passwd"):
        download_dataset("file:///etc/passwd", None, data_root=tmp_path)
    assert list(tmp_path.iterdir()) == []
