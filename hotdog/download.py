"""Fetch the classic hot-dog photo dataset over HTTP, check it is the file we expect, and unpack it safely.

The download streams to a hidden temporary file under `data_root` (never into memory), is hashed on the way, and
is deleted whatever happens; only the unpacked dataset stays. A browser user must not be able to turn the server
into a probe of its own network, so an address is resolved first and refused when any of its addresses is
loopback, private, link-local, multicast or reserved (IPv4 and IPv6), at every redirect and again at connect time
(the connection goes to the address that was checked), unless `HOTDOG_ALLOW_PRIVATE_DOWNLOADS=1` (a local mirror).
Every network failure, whatever its cause, is the same one DownloadError line, so the answers do not map the
network either; the cause goes to the server's log.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import logging
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Optional
from urllib.parse import urlparse

from hotdog import archives

log = logging.getLogger(__name__)

#: d2l.ai's hot-dog dataset: hotdog/{train,test}/{hotdog,not-hotdog}, 1,400 + 1,400 photos, about 260 MB.
D2L_HOTDOG_URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
D2L_HOTDOG_SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
#: Largest download we agree to store; more than this could not be unpacked anyway.
MAX_DOWNLOAD_BYTES = archives.MAX_TOTAL_BYTES
#: Set to 1 to allow addresses on this server's own networks (a mirror on the school's LAN, a test server).
ALLOW_PRIVATE_ENV = "HOTDOG_ALLOW_PRIVATE_DOWNLOADS"

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

    Args:
        url: an http:// or https:// address; the classic hot-dog dataset by default.
        sha1: the expected SHA-1 of the zip, or None to skip the check.
        data_root: the folder the dataset is unpacked into (a new folder named after the zip).
        progress: called with (bytes done, total or None) after every chunk.
        timeout: seconds without an answer from the server.

    Returns:
        The new dataset root (the folder holding train/).

    Raises DownloadError for refused addresses, network and checksum failures, and archives.ArchiveError when the
    zip itself is refused; either way nothing is left behind.
    """
    host = check_url(url)
    with archives.scratch_path(Path(data_root), archives.DOWNLOAD_PREFIX, ".zip") as temporary:
        with open(temporary, "wb") as sink:
            got = _fetch(url, host, sink, progress, timeout)
        if sha1 is not None and got != sha1.lower():
            raise DownloadError(f"The file from {host} is not the expected one (SHA-1 {got}, expected {sha1.lower()})")
        return archives.extract_dataset_zip(temporary, data_root, name=PurePosixPath(urlparse(url).path).stem or host)


def check_url(url: str) -> str:
    """Refuse anything but an http(s) address whose host resolves to public addresses only; return the host.

    `file://` would read the server's own files; a private address would reach its network.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise DownloadError(f"Not an http:// or https:// address: {url}")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as error:  # a port that is not a number or out of range
        raise DownloadError(f"Not an http:// or https:// address: {url}") from error
    public_addresses(parsed.hostname, port)
    return parsed.hostname


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, once every one of them passed `is_public` (or private ones are allowed).

    Raises DownloadError: the neutral network line when the name does not resolve, a refusal when any address is
    not public.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise _network_failure(host, error) from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if os.environ.get(ALLOW_PRIVATE_ENV) != "1" and not all(map(is_public, addresses)):
        raise DownloadError(f"{host} is on a local or private network: downloads from there are off "
                            f"(set {ALLOW_PRIVATE_ENV}=1 to allow a local mirror). {_INSTEAD}")
    return addresses


def is_public(address: str) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local, multicast, reserved,
    unspecified and site-local ones, IPv4 and IPv6 alike (an IPv4 address written as IPv6 is judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    local = (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
             or ip.is_unspecified or getattr(ip, "is_site_local", False))
    return ip.is_global and not local


def _network_failure(host: str, cause: object) -> DownloadError:
    """The one line every network failure gets (refused, timed out, HTTP error, cut short, unknown name...), so
    the answers cannot be used to map a network; the cause itself goes to the server's log."""
    log.warning("download from %s failed: %s", host, cause)
    return DownloadError(f"Could not download from {host}: no complete file came back (offline, a wrong "
                         f"address, or the server said no). {_INSTEAD}")


def _fetch(url: str, host: str, sink: BinaryIO, progress: Progress | None, timeout: float) -> str:
    """Stream `url` into `sink` and return the SHA-1 hex digest of what arrived."""
    digest, done, total = hashlib.sha1(), 0, None
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            total = _content_length(response)
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > MAX_DOWNLOAD_BYTES:
                    raise DownloadError(f"The file from {host} is larger than {MAX_DOWNLOAD_BYTES / 1e6:,.0f} MB")
                digest.update(chunk)
                sink.write(chunk)
                if progress is not None:
                    progress(done, total)
    except (OSError, http.client.HTTPException, ValueError) as error:  # URLError and HTTPError are OSErrors
        raise _network_failure(host, f"{type(error).__name__}: {error} after {done:,} bytes") from None
    if total is not None and done != total:
        raise _network_failure(host, f"stopped early ({done:,} of {total:,} bytes)")
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- checked urllib


def _connect_checked(address: tuple[str, int], timeout: object = socket._GLOBAL_DEFAULT_TIMEOUT,
                     source_address: tuple[str, int] | None = None) -> socket.socket:
    """socket.create_connection to an address of `host` that passed the check, so a name that resolves to a public
    address for the check and to a private one a moment later (DNS rebinding) still cannot reach inside. A proxy
    configured for this server (`http_proxy`...) is the administrator's choice and is connected to as it is."""
    host, port = address
    if host in _proxy_hosts():
        return socket.create_connection(address, timeout, source_address)
    error: OSError | None = None
    for candidate in public_addresses(host, port):
        try:
            return socket.create_connection((candidate, port), timeout, source_address)
        except OSError as failure:
            error = failure
    raise error or OSError(f"no address for {host}")


def _proxy_hosts() -> set[str]:
    return {urlparse(proxy).hostname for proxy in urllib.request.getproxies().values() if "://" in proxy}


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_checked


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_checked


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, request)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def do_open(self, http_class, request, **options):  # noqa: ANN001 (urllib's own signature)
        return super().do_open(_CheckedHTTPSConnection, request, **options)


class _CheckedRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an address that passes `check_url` (through a proxy, this is the only check)."""

    def redirect_request(self, request, fp, code, msg, headers, new_url):  # noqa: ANN001 (urllib's signature)
        check_url(new_url)
        return super().redirect_request(request, fp, code, msg, headers, new_url)


_OPENER = urllib.request.build_opener(_CheckedHTTPHandler, _CheckedHTTPSHandler, _CheckedRedirectHandler)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (TypeError, ValueError):
        return None
