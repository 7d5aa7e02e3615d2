"""Evaluate: how good is a trained model really? Metrics next to the majority baseline, the confusion matrix,
ROC and precision-recall curves, and the photos it gets wrong; the threshold slider moves all of it at once.

Scoring a split runs the model once and saves per-photo scores in the run folder; everything after that is
recomputed from those scores, instantly.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.verdicts import heatmap_pictures
from hotdog import charts, evaluate, runs, workspace

GALLERY_SIZE = 24


def score_button(run: runs.Run, split: str, label: str) -> None:
    if st.button(label, key="score", type="primary", icon=":material/calculate:"):
        with st.spinner(f"Scoring every {split} photo with {run.id}…"):
            try:
                evaluate.evaluate(run.path, run.dataset_path, split)
            except (ValueError, OSError) as error:
                st.error(f"Could not score the {split} split: {error}")
                return
        st.rerun()


def show_metrics(result: dict, split: str) -> None:
    baseline = result["majority_baseline"]
    st.markdown(f"#### {result['n']} {split} photos. Always answering **{result['majority_class']}** would be right "
                f"for **{baseline:.0%}** of them: that is the score to beat.")
    columns = st.columns(5)
    columns[0].metric("Accuracy", f"{result['accuracy']:.1%}", f"{(result['accuracy'] - baseline) * 100:+.1f} pts "
                                                               f"vs always {result['majority_class']}")
    columns[1].metric("Balanced accuracy", f"{result['balanced_accuracy']:.1%}", help="Mean of the recall of both "
                      "classes: 50% for any model that always gives the same answer.")
    columns[2].metric("Precision", f"{result['precision']:.1%}", help="Of the photos called hotdog, how many are.")
    columns[3].metric("Recall", f"{result['recall']:.1%}", help="Of the hotdogs, how many were found.")
    columns[4].metric("ROC AUC", f"{result['roc_auc']:.3f}" if result["roc_auc"] is not None else "n/a",
                      help="Chance that a random hotdog scores above a random not-hotdog; 0.5 is guessing.")


def show_charts(labels, scores, result: dict, threshold: float) -> None:
    left, middle, right = st.columns(3)
    left.altair_chart(charts.confusion_chart(result["confusion_matrix"]))
    middle.altair_chart(charts.roc_chart(evaluate.roc_curve(labels, scores),
                                         (1 - result["specificity"], result["recall"]), result["roc_auc"]))
    right.altair_chart(charts.pr_chart(evaluate.pr_curve(labels, scores), (result["recall"], result["precision"]),
                                       float(labels.mean())))
    st.caption(f"The red dot is the threshold {threshold:.2f}; the dashed lines are what guessing scores. "
               "True positive rate = recall = the share of hotdogs found; false positive rate = the share of "
               "not-hotdogs called hotdog; precision = the share of hotdog verdicts that are right.")


def show_mistakes(run: runs.Run, paths, labels, scores, threshold: float) -> None:
    mistakes = evaluate.misclassified(paths, labels, scores, threshold)
    st.subheader(f"Mistakes at threshold {threshold:.2f}: {len(mistakes)}")
    if not mistakes:
        st.success("No photo is misclassified at this threshold.")
        return
    shown = [mistake for mistake in mistakes if Path(mistake["path"]).is_file()][:GALLERY_SIZE]
    st.caption("The most confidently wrong first." + (f" Showing {len(shown)}." if len(mistakes) > len(shown)
                                                      else ""))
    if not shown:
        return
    captions = [f"{mistake['label']}, P(hotdog) {mistake['p_hotdog']:.2f}" for mistake in shown]
    if st.toggle("Why? Show where it looked", key="mistakes-why",
                 help="Grad-CAM: red where the network found the evidence for its (wrong) verdict."):
        pictures = heatmap_pictures(str(run.path), run.model_path.stat().st_mtime,
                                    [mistake["path"] for mistake in shown], threshold)
        st.image([picture for picture in pictures if picture is not None], width=180,
                 caption=[caption for caption, picture in zip(captions, pictures) if picture is not None])
    else:
        st.image([mistake["path"] for mistake in shown], width=180, caption=captions)


st.title(":material/analytics: Evaluate")
candidates = [run for run in runs.list_runs() if run.has_model()]
if not candidates:
    st.info("No trained model yet: train one on the Train page first.")
    st.stop()
top = st.columns([3, 1, 2])
run = top[0].selectbox("Run", candidates, format_func=workspace.run_label, key="run")
splits = run.dataset_splits or ["validation"]
split = top[1].selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="split",
                         help="Test photos were never used while training: the honest score.")
threshold = top[2].slider("Threshold: P(hotdog) needed to say hotdog", 0.0, 1.0, 0.5, 0.01, key="threshold")
st.caption(f"Dataset: {run.dataset_path}")
predictions = evaluate.read_predictions(run.path, split)
if predictions is None:
    st.info(f"This run has not scored its {split} photos yet (it takes a few seconds).")
    score_button(run, split, f"Score the {split} photos")
    st.stop()
if evaluate.predictions_path(run.path, split).stat().st_mtime < run.model_path.stat().st_mtime:
    st.warning("The model changed since these scores were saved.")
    score_button(run, split, "Score again")
paths, labels, scores = predictions
result = evaluate.binary_metrics(labels, scores, threshold)
show_metrics(result, split)
show_charts(labels, scores, result, threshold)
show_mistakes(run, paths, labels, scores, threshold)
