"""What several pages share: the teacher password that guards every action changing what the whole class sees.

Starting, stopping or resuming a training, choosing the dataset, importing a zip or photos, downloading, renaming
or deleting: each goes through `teacher_button`, so one check serves them all. Watching and predicting need
nothing. Without a password set (`HOTDOG_TEACHER_PASSWORD`, or `teacher_password` in `st.secrets`), everything is
open, as in a one-person demo.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

PASSWORD_ENV, PASSWORD_SECRET = "HOTDOG_TEACHER_PASSWORD", "teacher_password"
#: The sidebar field's key, and the key that keeps what was typed while the teacher moves between pages.
PASSWORD_KEY, REMEMBERED_KEY = "teacher_password", "teacher_password_typed"


def teacher_password() -> str | None:
    """The optional password: the environment first, then st.secrets."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    try:
        return st.secrets.get(PASSWORD_SECRET) or None
    except FileNotFoundError:  # no secrets.toml: no password
        return None


def _remember_password() -> None:
    st.session_state[REMEMBERED_KEY] = st.session_state[PASSWORD_KEY]


def teacher_unlocked() -> bool:
    """True when no password is set or the right one was typed in the sidebar field this draws (once per page run,
    from the page's main script, not from a fragment). What was typed is kept across pages."""
    expected = teacher_password()
    if expected is None:
        return True
    given = st.sidebar.text_input("Teacher password", value=st.session_state.get(REMEMBERED_KEY, ""),
                                  type="password", key=PASSWORD_KEY, on_change=_remember_password,
                                  help="Changing the dataset and starting or stopping training are for the "
                                       "teacher; watching and predicting are for everyone.")
    unlocked = hmac.compare_digest(given.encode(), str(expected).encode())
    if not unlocked:
        st.sidebar.caption(":material/lock: Enter the teacher password to change the dataset or the training.")
    return unlocked


def teacher_button(label: str, *, key: str, unlocked: bool, container=None, disabled: bool = False,
                   **options) -> bool:
    """A button for an action that changes shared state: greyed out while locked, and True only when clicked and
    unlocked, so a click forged past the greyed-out button does nothing either.

    `unlocked` is `teacher_unlocked()` from the page's main script (a fragment cannot draw in the sidebar);
    `container` is where to draw it (the page by default, e.g. `st.sidebar`).
    """
    clicked = (container or st).button(label, key=key, disabled=disabled or not unlocked, **options)
    return bool(clicked and unlocked)
