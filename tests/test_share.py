"""Classroom sharing: the LAN address really reaches this computer, and the QR code holds exactly that address."""

from __future__ import annotations

import http.server
import io
import socket
import threading
import urllib.request

import numpy as np
import pytest
import qrcode
import qrcode.constants
from PIL import Image

from hotdog import share


def test_every_lan_address_belongs_to_this_computer_and_is_not_loopback():
    for address in share.lan_addresses():
        assert not address.startswith("127.") and not address.startswith("169.254.")
        with socket.socket() as probe:
            probe.bind((address, 0))  # only an address of one of our own interfaces can be bound


def test_a_server_listening_everywhere_is_reached_at_the_first_lan_address():
    addresses = share.share_addresses("0.0.0.0")
    if not addresses:
        pytest.skip("this machine has no network interface besides loopback")
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = share.app_url(addresses[0], server.server_address[1])
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_which_addresses_students_can_use_depends_on_where_the_server_listens():
    assert share.share_addresses("127.0.0.1") == [] and share.share_addresses("localhost") == []
    assert share.share_addresses("::1") == []
    assert share.share_addresses("192.0.2.7") == ["192.0.2.7"]
    assert share.share_addresses(None) == share.share_addresses("0.0.0.0") == share.lan_addresses()


def test_app_url():
    assert share.app_url("192.168.1.20", 8501) == "http://192.168.1.20:8501/"
    assert share.app_url("192.168.1.20", 8501, page="predict") == "http://192.168.1.20:8501/predict"
    assert share.app_url("10.0.0.5", 80, "/hotdog/", "predict") == "http://10.0.0.5:80/hotdog/predict"
    assert share.app_url("fe80::1", 8501) == "http://[fe80::1]:8501/"


def modules(png: bytes, box: int) -> np.ndarray:
    """The dark/light module grid of a QR picture, read back from the middle pixel of each module."""
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert picture.shape[0] == picture.shape[1] and picture.shape[0] % box == 0
    centres = np.arange(box // 2, picture.shape[0], box)
    return picture[np.ix_(centres, centres)] < 128


def test_the_qr_code_is_the_address_and_nothing_else():
    url = "http://192.168.1.20:8501/predict"
    png = share.qr_png(url, box_pixels=6)
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    reference.add_data(url)
    reference.make(fit=True)
    grid = modules(png, 6)
    assert (grid == np.array(reference.get_matrix())).all()
    other = modules(share.qr_png(url + "x", box_pixels=6), 6)
    assert other.shape != grid.shape or (other != grid).any()
