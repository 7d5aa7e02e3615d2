"""The classroom frame of every page: the Share panel's address and QR code, and projector mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from conftest import REPO
from hotdog import share, workspace

APP = str(REPO / "streamlit_app.py")


@pytest.fixture
def home(tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOTDOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOTDOG_RUNS_DIR", str(tmp_path / "runs"))
    workspace.use_dataset(tiny_dataset)
    return lambda: AppTest.from_file(APP, default_timeout=60)


@pytest.fixture
def server_address():
    """Set Streamlit's `server.address` for one test, as `--server.address` would."""
    before = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)


def test_home_shares_the_predict_page_at_the_lan_address_with_its_qr_code(home, server_address):
    addresses = share.lan_addresses()
    if not addresses:
        pytest.skip("this machine has no network interface besides loopback")
    server_address(None)
    at = home().run()
    assert not at.exception
    url = share.app_url(addresses[0], config.get_option("server.port"), page="predict")
    assert url in [code.value for code in at.code]
    assert any(image.proto.imgs[0].caption == "Scan to open the Predict page" for image in at.image)


def test_a_server_on_loopback_says_phones_cannot_reach_it(home, server_address):
    server_address("127.0.0.1")
    at = home().run()
    assert any("only listens on this computer" in warning.value for warning in at.warning)
    assert not [code.value for code in at.code if code.value.startswith("http://")]


def test_projector_mode_hides_the_sidebar_and_comes_back(home):
    at = home().run()
    assert at.sidebar.toggle(key="projector").value is False and not at.button
    at.sidebar.toggle(key="projector").set_value(True).run()
    assert not at.exception
    assert at.query_params["projector"] == "1"  # a refresh keeps it
    assert not at.sidebar.toggle and [button.key for button in at.button] == ["projector-exit"]
    assert any("zoom" in element.proto.body for element in at.get("html"))
    at.button(key="projector-exit").click().run()
    assert at.sidebar.toggle(key="projector").value is False and not at.get("html")


def test_projector_mode_from_the_address_survives_a_new_session(home):
    at = home()
    at.query_params["projector"] = "1"
    at.run()
    assert [button.key for button in at.button] == ["projector-exit"] and not at.sidebar.toggle
