"""Runs side by side: pick runs, see their validation curves on one chart and their settings, final metrics and
every kept score in one table; then download a run's model in another format, rename it or delete it.

Everything shown is read from the run folders; renaming and deleting (teacher password when set) and exporting go
through the library.
"""

from __future__ import annotations

import streamlit as st

from app_pages.common import teacher_button, teacher_unlocked
from hotdog import charts, compare, export, runs, workspace

PERCENT_COLUMNS = ("best validation accuracy", "validation balanced accuracy")
SHOWN_BY_DEFAULT = 3


def table_columns(rows: list[dict]) -> dict:
    """Percentages where the numbers are shares: accuracies and every kept score."""
    return {column: st.column_config.NumberColumn(format="percent") for column in (rows[0] if rows else {})
            if column in PERCENT_COLUMNS or column.endswith("balanced accuracy")}


def side_by_side(picked: list[runs.Run]) -> None:
    curves = compare.validation_curves(picked)
    if curves:
        for column, metric in zip(st.columns(2), compare.CURVE_METRICS):
            column.altair_chart(charts.comparison_chart(curves, metric), key=f"compare-{metric}")
    else:
        st.info("None of these runs has finished an epoch yet: the curves appear after the first one.")
    rows = compare.table(picked)
    st.dataframe(rows, hide_index=True, column_config=table_columns(rows))
    st.caption("Scores on test splits and other folders appear once a run is scored on the Evaluate page.")


def downloads(run: runs.Run) -> None:
    if not run.has_model():
        st.info("This run has no saved model (it stopped before its first epoch ended).")
        return
    try:
        export.run_dataset(run)
    except export.ExportError as error:
        st.warning(f"No downloads: {error}. Exports are checked against the run's own photos.")
        return
    st.caption("Every format takes RGB pixels 0..255 and returns P(hotdog). Each file is reloaded and checked "
               "against the model before you get it; the first download of a format takes up to a minute.")
    for name, kind in export.FORMATS.items():
        left, right = st.columns([2, 3], vertical_alignment="center")
        left.download_button(kind.title, data=lambda name=name: export.run_export(run, name)[0].read_bytes(),
                             file_name=export.file_name(run.id, name), mime="application/octet-stream",
                             key=f"download-{name}", on_click="ignore", icon=":material/download:",
                             width="stretch")
        right.caption(kind.description + (f" · {check}" if (check := export.kept_check(run, name)) else ""))


def rename(run: runs.Run, unlocked: bool) -> None:
    name = st.text_input("New name", key="rename-name", placeholder="e.g. cnn-more-epochs",
                         help="Letters, digits, '-', '_' and '.'; the start time stays at the front of the id.")
    if teacher_button("Rename", key="rename", unlocked=unlocked, disabled=not name.strip(),
                      icon=":material/edit:"):
        try:
            renamed = runs.rename_run(run, name)
        except (ValueError, OSError) as error:
            st.error(f"Not renamed: {error}")
            return
        st.session_state["runs_notice"] = f"Renamed to {renamed.id}"
        st.rerun()


def delete(run: runs.Run, unlocked: bool) -> None:
    sure = st.checkbox(f"Yes, delete {run.id}: its model, charts, scores and exports, for good",
                       key="delete-sure")
    if teacher_button("Delete the run", key="delete", unlocked=unlocked, disabled=not sure, type="primary",
                      icon=":material/delete:"):
        try:
            runs.delete_run(run)
        except (ValueError, OSError) as error:
            st.error(f"Not deleted: {error}")
            return
        st.session_state["runs_notice"] = f"Deleted {run.id}"
        st.rerun()


st.title(":material/compare_arrows: Runs side by side")
unlocked = teacher_unlocked()
notice = st.session_state.pop("runs_notice", None)
if notice:
    st.success(notice)
every_run = runs.list_runs()
if not every_run:
    st.info("No runs yet: train one on the Train page.")
    st.stop()
picked = st.multiselect("Runs to compare", every_run, default=every_run[:SHOWN_BY_DEFAULT],
                        format_func=workspace.run_label, key="compare")
if picked:
    side_by_side(picked)

st.subheader("One run: download, rename, delete")
run = st.selectbox("Run", every_run, format_func=workspace.run_label, key="manage")
for tab, draw in zip(st.tabs(["Download the model", "Rename", "Delete"]),
                     (lambda: downloads(run), lambda: rename(run, unlocked), lambda: delete(run, unlocked))):
    with tab:
        draw()
