"""Downloading a dataset zip from a local HTTP server on 127.0.0.1: success, bad checksum, HTTP and network errors
(all the same neutral line), and the refusal of every address on the server's own networks, also after redirects."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from conftest import REPO, free_port, run_cli
from hotdog import download
from hotdog.download import DownloadError, download_dataset

NEUTRAL = ("Could not download from 127.0.0.1: no complete file came back (offline, a wrong address, or the server "
           "said no). Use the built-in demo data or upload a zip instead.")
REFUSED = "is on a local or private network: downloads from there are off"


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
    sending halfway, /redirect?to=URL (a 302 to URL), and 404 for the rest."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
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


@pytest.fixture(autouse=True)
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our test server is on 127.0.0.1: allowed here as a teacher allows a local mirror; tests of the refusal
    delete the setting again."""
    monkeypatch.setenv(download.ALLOW_PRIVATE_ENV, "1")


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


def test_http_error_gets_the_neutral_line(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"^{re.escape(NEUTRAL)}$"):
        download_dataset(f"{server}/missing.zip", None, data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"^{re.escape(NEUTRAL)}$"):
        download_dataset(f"{server}/short.zip", None, data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_stalled_download_times_out_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"^{re.escape(NEUTRAL)}$"):
        download_dataset(f"{server}/stalled.zip", None, data_root=tmp_path, timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_gets_the_same_neutral_line(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(DownloadError, match=f"^{re.escape(NEUTRAL)}$"):
        download_dataset(f"http://127.0.0.1:{port}/hotdog.zip", data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_unresolvable_host_gets_the_same_neutral_line(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"^{re.escape(NEUTRAL.replace('127.0.0.1', 'nonexistent.invalid'))}$"):
        download_dataset("http://nonexistent.invalid/x.zip", data_root=tmp_path, timeout=5)


def test_only_http_urls_are_fetched(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="Not an http:// or https:// address: file:///etc/passwd"):
        download_dataset("file:///etc/passwd", None, data_root=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.5", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255", "fc00::1", "fd12:3456::1", "fe80::1",
    "fe80::1%lo", "fec0::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "192.0.2.1", "2001:db8::1"])
def test_addresses_on_local_private_or_special_networks_are_not_public(address: str) -> None:
    assert not download.is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "52.219.8.1", "2606:4700::1111", "2a00:1450:4001::1"])
def test_addresses_on_the_internet_are_public(address: str) -> None:
    assert download.is_public(address)


@pytest.mark.parametrize("url", ["{server}/hotdog.zip", "http://localhost:{port}/hotdog.zip",
                                 "http://[::1]:{port}/hotdog.zip", "http://2130706433:{port}/hotdog.zip",
                                 "http://0x7f.1:{port}/hotdog.zip", "https://127.0.0.1:{port}/hotdog.zip"])
def test_local_addresses_are_refused_by_default_however_written(
    server: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(download.ALLOW_PRIVATE_ENV)
    address = url.format(server=server, port=server.rsplit(":", 1)[1])
    with pytest.raises(DownloadError, match=f"is on a local or private network: downloads from there are off "
                                            f"\\(set {download.ALLOW_PRIVATE_ENV}=1 to allow a local mirror\\)"):
        download_dataset(address, None, data_root=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_to_a_local_address_is_refused(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only 127.0.0.1 counts as public here (our server plays the part of a public mirror); the redirect points at
    127.0.0.2 or ::1, as local as ever, and must be refused before any connection to it."""
    monkeypatch.delenv(download.ALLOW_PRIVATE_ENV)
    monkeypatch.setattr(download, "is_public", lambda address: address == "127.0.0.1")
    port = server.rsplit(":", 1)[1]
    root = download_dataset(f"{server}/redirect?to={server}/hotdog.zip", SHA1, data_root=tmp_path / "followed")
    assert (root / "train" / "hotdog").is_dir()  # a redirect to a public address is followed
    for target, host in ((f"http://127.0.0.2:{port}/hotdog.zip", "127.0.0.2"), (f"http://[::1]:{port}/x.zip", "::1")):
        with pytest.raises(DownloadError, match=f"^{re.escape(host)} {REFUSED}"):
            download_dataset(f"{server}/redirect?to={target}", SHA1, data_root=tmp_path / "refused", timeout=5)
    with pytest.raises(DownloadError, match="Not an http:// or https:// address: ftp://127.0.0.1/x.zip"):
        download_dataset(f"{server}/redirect?to=ftp://127.0.0.1/x.zip", None, data_root=tmp_path / "refused")
    with pytest.raises(DownloadError, match=re.escape(NEUTRAL)):  # urllib itself never follows file://
        download_dataset(f"{server}/redirect?to=file:///etc/passwd", None, data_root=tmp_path / "refused")
    assert list((tmp_path / "refused").iterdir()) == []


def test_the_address_connected_to_is_the_one_checked(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolves to a public address for the check and to a local one a moment later (DNS rebinding)
    is caught at connect time: the connection itself resolves and checks again."""
    monkeypatch.delenv(download.ALLOW_PRIVATE_ENV)
    port = int(server.rsplit(":", 1)[1])
    with pytest.raises(DownloadError, match=REFUSED):
        download._connect_checked(("127.0.0.1", port), 5)
    monkeypatch.setenv(download.ALLOW_PRIVATE_ENV, "1")
    download._connect_checked(("127.0.0.1", port), 5).close()


def test_every_network_failure_reads_the_same(server: str, tmp_path: Path) -> None:
    """404, refused, cut short, stalled: a student cannot tell a closed port from a missing file."""
    closed = free_port()
    messages = set()
    for url in (f"{server}/missing.zip", f"http://127.0.0.1:{closed}/x.zip", f"{server}/short.zip",
                f"{server}/stalled.zip"):
        with pytest.raises(DownloadError) as failure:
            download_dataset(url, None, data_root=tmp_path, timeout=1)
        messages.add(str(failure.value))
    assert messages == {NEUTRAL}


def test_the_command_line_downloads_on_the_same_path_and_refuses_the_same(server: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    done = run_cli("download", f"{server}/hotdog.zip", "--into", tmp_path / "data", "--sha1", SHA1, timeout=60)
    root = tmp_path / "data" / "hotdog" / "hotdog"
    assert done.stdout.startswith(f"dataset ready in {root} ") and (root / "train" / "not-hotdog").is_dir()
    wrong = run_cli("download", f"{server}/hotdog.zip", "--into", tmp_path / "data", "--sha1", "0" * 40,
                    check=False, timeout=60)
    assert wrong.returncode == 2 and wrong.stderr.splitlines()[-1].startswith("error: The file from 127.0.0.1 is not")
    monkeypatch.delenv(download.ALLOW_PRIVATE_ENV)
    refused = run_cli("download", f"{server}/hotdog.zip", "--into", tmp_path / "other", check=False, timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines()[-1].startswith(f"error: 127.0.0.1 {REFUSED}")
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


def test_a_download_killed_mid_way_leaves_nothing_after_the_next_one(server: str, tmp_path: Path) -> None:
    """kill -9 during a download used to leave its hidden .download-*.zip (up to 260 MB) for good."""
    script = "import sys; from pathlib import Path; from hotdog import download; " \
             "download.download_dataset(sys.argv[1], None, data_root=Path(sys.argv[2]))"
    process = subprocess.Popen([sys.executable, "-c", script, f"{server}/stalled.zip", str(tmp_path)], cwd=REPO)
    deadline, partial = time.monotonic() + 60, []
    while not partial and time.monotonic() < deadline:  # the server sends 1,000 bytes, then stalls for 3 s
        partial = list(tmp_path.glob(".download-*.zip"))
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert partial and partial[0].exists()
    root = download_dataset(f"{server}/hotdog.zip", SHA1, data_root=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [root.parent.name]
