"""The classroom frame around every page: the Share panel (the address students open on their phones, and its QR
code) and projector mode (large verdicts and charts, no sidebar), both in the sidebar of every page.

Projector mode belongs to one browser (the one on the projector), not to the class: it is kept in that session and
in its address (`?projector=1`), so a refresh or a bookmark keeps it.
"""

from __future__ import annotations

import streamlit as st

from hotdog import share

PROJECTOR_KEY, PROJECTOR_PARAM = "projector", "projector"
#: The page students land on.
SHARED_PAGE = "predict"
#: Projector mode: no sidebar, the main area drawn 1.35 times larger, verdicts larger still. A chart measures its
#: width enlarged and then is drawn enlarged again, so it is given 1/1.35 of the width to fill it exactly.
PROJECTOR_ZOOM = 1.35
PROJECTOR_CSS = f"""
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]
  {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ zoom: {PROJECTOR_ZOOM}; max-width: 100%; padding: 3rem 2rem; }}
[data-testid="stVegaLiteChart"] {{ width: calc(100% / {PROJECTOR_ZOOM}) !important; }}
.hotdog-verdict {{ font-size: min(4.5rem, 16cqi) !important; }}
</style>
"""


def shared_url() -> tuple[str | None, list[str]]:
    """The Predict page's address on the local network (None when the server only listens on this computer), and
    every other address that reaches it."""
    hosts = share.share_addresses(st.get_option("server.address"))
    port, base = st.get_option("server.port"), st.get_option("server.baseUrlPath") or ""
    urls = [share.app_url(host, port, base, SHARED_PAGE) for host in hosts]
    return (urls[0] if urls else None), urls[1:]


def share_panel() -> None:
    url, others = shared_url()
    if url is None:
        st.warning("This server only listens on this computer, so phones cannot reach it. Start it with "
                   "`streamlit run streamlit_app.py --server.address 0.0.0.0`.", icon=":material/wifi_off:")
        return
    st.markdown("Students open this on their phones (same Wi-Fi):")
    st.code(url, language=None)
    st.image(share.qr_png(url), width=260, caption="Scan to open the Predict page")
    if others:
        st.caption("Also reachable at: " + ", ".join(others))
    st.caption("Phones reach the app over plain http, where browsers keep the live camera for this computer only: "
               "on a phone, the upload box's *Upload* button offers the phone's camera instead.")


def projector_on() -> bool:
    """Projector mode for this browser: from the session, else from the address on the first visit."""
    if PROJECTOR_KEY not in st.session_state:
        st.session_state[PROJECTOR_KEY] = st.query_params.get(PROJECTOR_PARAM) == "1"
    return bool(st.session_state[PROJECTOR_KEY])


def _remember_projector() -> None:
    if st.session_state[PROJECTOR_KEY]:
        st.query_params[PROJECTOR_PARAM] = "1"
    else:
        st.query_params.pop(PROJECTOR_PARAM, None)


def _leave_projector() -> None:
    st.session_state[PROJECTOR_KEY] = False
    _remember_projector()


def frame() -> None:
    """What every page gets, drawn by the entrypoint before the page: the sidebar's classroom tools, or in
    projector mode its style and a way out."""
    if projector_on():
        st.html(PROJECTOR_CSS)
        st.button("Exit projector mode", key="projector-exit", icon=":material/close_fullscreen:",
                  on_click=_leave_projector)
        return
    with st.sidebar:
        st.toggle("Projector mode", key=PROJECTOR_KEY, on_change=_remember_projector,
                  help="Large verdicts and charts, no sidebar: for the screen the whole class watches.")
        with st.popover("Share with the class", icon=":material/qr_code_2:", width="stretch"):
            share_panel()
