"""Fetch the classic hot-dog photo dataset over HTTP, check it is the file we expect, and unpack it safely.

The download streams to a hidden temporary file under `data_root` (never into memory), is hashed on the way, and
is deleted whatever happens; only the unpacked dataset stays. Every network failure becomes one DownloadError line
that tells a teacher in an offline classroom what to do instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Optional
from urllib.parse import urlparse

from hotdog import archives

#: d2l.ai's hot-dog dataset: hotdog/{train,test}/{hotdog,not-hotdog}, 1,400 + 1,400 photos, about 260 MB.
D2L_HOTDOG_URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
D2L_HOTDOG_SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
#: Largest download we agree to store; more than this could not be unpacked anyway.
MAX_DOWNLOAD_BYTES = archives.MAX_TOTAL_BYTES

#: Called after every chunk with (bytes done, total bytes or None when the server does not say).
Progress = Callable[[int, Optional[int]], None]

_CHUNK = 256 * 1024
_INSTEAD = "Use the built-in demo data or upload a zip instead."


class DownloadError(RuntimeError):
    """A download that failed or was not the expected file; the message is one line a user can act on."""


def download_dataset(
    url: str = D2L_HOTDOG_URL,
    sha1: str | None = D2L_HOTDOG_SHA1,
    *,
    data_root: Path,
    progress: Progress | None = None,
    timeout: float = 30,
) -> Path:
    """Download a dataset zip, verify its SHA-1 (skipped when `sha1` is None), unpack it under `data_root` and
    return the dataset root.

    `timeout` is seconds without an answer from the server. Raises DownloadError for network and checksum
    failures, and archives.ArchiveError when the zip itself is refused; either way nothing is left behind.
    """
    host = _host(url)
    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".download-", suffix=".zip", dir=data_root)
    try:
        with os.fdopen(descriptor, "wb") as sink:
            got = _fetch(url, host, sink, progress, timeout)
        if sha1 is not None and got != sha1.lower():
            raise DownloadError(f"The file from {host} is not the expected one (SHA-1 {got}, expected {sha1.lower()})")
        return archives.extract_dataset_zip(temporary, data_root, name=PurePosixPath(urlparse(url).path).stem or host)
    finally:
        os.unlink(temporary)


def _host(url: str) -> str:
    """The host name, after refusing anything but http(s): `file://` would read the server's own files."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise DownloadError(f"Not an http:// or https:// address: {url}")
    return parsed.hostname


def _fetch(url: str, host: str, sink: BinaryIO, progress: Progress | None, timeout: float) -> str:
    """Stream `url` into `sink` and return the SHA-1 hex digest of what arrived."""
    digest, done, total = hashlib.sha1(), 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = _content_length(response)
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > MAX_DOWNLOAD_BYTES:
                    raise DownloadError(f"The file from {host} is larger than {MAX_DOWNLOAD_BYTES / 1e6:,.0f} MB")
                digest.update(chunk)
                sink.write(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{host} answered HTTP {error.code} {error.reason} for {url}") from error
    except urllib.error.URLError as error:
        reason = getattr(error.reason, "strerror", None) or error.reason
        raise DownloadError(f"Could not reach {host} ({reason}): you seem to be offline. {_INSTEAD}") from error
    except (OSError, http.client.HTTPException) as error:
        reason = str(error) or type(error).__name__
        raise DownloadError(f"Download from {host} failed after {done / 1e6:,.1f} MB ({reason}); try again") from error
    if total is not None and done != total:
        raise DownloadError(f"Download from {host} stopped early ({done:,} of {total:,} bytes); try again")
    return digest.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (TypeError, ValueError):
        return None
