"""Evaluate: how good is a model really? Metrics next to the majority baseline, the confusion matrix, ROC and
precision-recall curves and the photos it gets wrong, on its own test photos and, side by side, on another labelled
folder; the threshold slider moves all of it at once.

Scoring runs the model once per folder and the library keeps the per-photo scores (`hotdog.evaluate`), so every
viewer sees them; everything after that is recomputed from those scores, instantly.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.common import teacher_button, teacher_unlocked
from app_pages.verdicts import heatmap_pictures
from hotdog import charts, data, evaluate, paths, workspace

GALLERY_SIZE = 12


def score(choice: workspace.ModelChoice, folder: Path, split: str | None, what: str) -> dict | None:
    """Score a folder with the model, saving its per-photo scores; a clear message instead of a traceback."""
    with st.spinner(f"Scoring {what} with {choice.label}…"):
        try:
            return evaluate.evaluate(choice.source, folder, split)
        except (ValueError, OSError) as error:
            st.error(f"Could not score {what}: {error}")
            return None


def show_result(choice: workspace.ModelChoice, evaluation: evaluate.Evaluation, threshold: float, key: str) -> None:
    """Metrics, charts and mistakes of one scored folder at `threshold`."""
    result = evaluation.metrics(threshold)
    baseline = result["majority_baseline"]
    st.markdown(f"**{result['n']} photos** ({evaluation.title}). Always answering **{result['majority_class']}** "
                f"would be right for **{baseline:.0%}** of them: that is the score to beat.")
    if evaluation.unreadable:
        st.caption(f"{len(evaluation.unreadable)} unreadable photo(s) left out.")
    first, second = st.columns(3), st.columns(3)
    first[0].metric("Accuracy", f"{result['accuracy']:.1%}", f"{(result['accuracy'] - baseline) * 100:+.1f} pts "
                                                             f"vs always {result['majority_class']}")
    first[1].metric("Balanced accuracy", f"{result['balanced_accuracy']:.1%}", help="Mean of the recall of both "
                    "classes: 50% for any model that always gives the same answer.")
    first[2].metric("ROC AUC", f"{result['roc_auc']:.3f}" if result["roc_auc"] is not None else "n/a",
                    help="Chance that a random hotdog scores above a random not-hotdog; 0.5 is guessing.")
    second[0].metric("Precision", f"{result['precision']:.1%}", help="Of the photos called hotdog, how many are.")
    second[1].metric("Recall", f"{result['recall']:.1%}", help="Of the hotdogs, how many were found.")
    second[2].metric("Specificity", f"{result['specificity']:.1%}",
                     help="Of the not-hotdogs, how many were called not hotdog.")
    show_charts(evaluation, result, threshold, key)
    show_mistakes(choice, evaluation, threshold, key)


def show_charts(evaluation: evaluate.Evaluation, result: dict, threshold: float, key: str) -> None:
    labels, scores = evaluation.labels, evaluation.scores
    confusion, roc, precision = st.tabs(["Confusion matrix", "ROC curve", "Precision and recall"])
    confusion.altair_chart(charts.confusion_chart(result["confusion_matrix"]), key=f"{key}-confusion")
    roc.altair_chart(charts.roc_chart(evaluate.roc_curve(labels, scores), (1 - result["specificity"],
                                                                          result["recall"]), result["roc_auc"]),
                     key=f"{key}-roc")
    precision.altair_chart(charts.pr_chart(evaluate.pr_curve(labels, scores), (result["recall"],
                                                                             result["precision"]),
                                           float(labels.mean())), key=f"{key}-pr")
    st.caption(f"The red dot is the threshold {threshold:.2f}; the dashed lines are what guessing scores. "
               "True positive rate = recall = the share of hotdogs found; false positive rate = the share of "
               "not-hotdogs called hotdog; precision = the share of hotdog verdicts that are right.")


def show_mistakes(choice: workspace.ModelChoice, evaluation: evaluate.Evaluation, threshold: float, key: str) -> None:
    mistakes = evaluation.mistakes(threshold)
    st.markdown(f"##### Mistakes at threshold {threshold:.2f}: {len(mistakes)}")
    if not mistakes:
        st.success("No photo is misclassified at this threshold.")
        return
    shown = [mistake for mistake in mistakes if Path(mistake["path"]).is_file()][:GALLERY_SIZE]
    st.caption("The most confidently wrong first." + (f" Showing {len(shown)}." if len(mistakes) > len(shown)
                                                      else ""))
    if not shown:
        return
    captions = [f"{mistake['label']}, P(hotdog) {mistake['p_hotdog']:.2f}" for mistake in shown]
    if st.toggle("Why? Show where it looked", key=f"{key}-why",
                 help="Grad-CAM: red where the network found the evidence for its (wrong) verdict."):
        pictures = heatmap_pictures(choice.source, evaluate.model_modified(choice.source),
                                    [mistake["path"] for mistake in shown], threshold)
        st.image([picture for picture in pictures if picture is not None], width=140,
                 caption=[caption for caption, picture in zip(captions, pictures) if picture is not None])
    else:
        st.image([mistake["path"] for mistake in shown], width=140, caption=captions)


def own_photos(choice: workspace.ModelChoice, home: Path | None, threshold: float,
               unlocked: bool) -> tuple[Path, str] | None:
    """The left column: the model on the held-out photos of its own dataset. Returns the (folder, split) shown."""
    st.subheader("Its own dataset" if choice.run is not None else "The dataset in use")
    if home is None or not home.is_dir():
        st.info("No dataset in use yet: choose one on the Data page, or score another folder." if home is None else
                f"The dataset it was trained on is gone ({home}): score another folder instead.")
        return None
    try:
        splits = [split for split in data.load_dataset(home).splits if split != "train"]
    except data.DataError as error:
        st.error(str(error))
        return None
    st.caption(str(home))
    split = st.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="split",
                         help="Test photos were never used while training: the honest score.")
    evaluation = evaluate.load_evaluation(choice.source, home, split)
    if evaluation is None or evaluation.stale:
        if evaluation is None:
            st.info(f"Not scored on its {split} photos yet (it takes a few seconds).")
        else:
            st.warning("The model changed since these scores were saved.")
        if teacher_button(f"Score the {split} photos", key="score", unlocked=unlocked, type="primary",
                          icon=":material/calculate:"):
            if score(choice, home, split, f"the {split} photos") is not None:
                st.rerun()
    if evaluation is not None:
        show_result(choice, evaluation, threshold, "own")
    return home.resolve(), split


def other_folder(choice: workspace.ModelChoice, shown: tuple[Path, str] | None, threshold: float,
                 unlocked: bool) -> None:
    """The right column: the same model on any other labelled folder the server may read."""
    st.subheader("Another labelled folder")
    typed = st.text_input("Folder on the server: a dataset (its test split is scored) or a folder holding hotdog "
                          "and nohotdog folders", key="other_folder", placeholder="data/shift-photos")
    st.caption("Allowed folders: " + ", ".join(str(root) for root in paths.allowed_roots()))
    if teacher_button("Score this folder", key="score_other", unlocked=unlocked, disabled=not typed.strip(),
                      icon=":material/calculate:"):
        try:
            folder = paths.resolve_allowed(typed)
        except paths.PathNotAllowed as error:
            st.error(str(error))
        else:
            result = score(choice, folder, None, folder.name)
            if result is not None:
                st.session_state["compare_with"] = (result["data"], result["split"])
                st.rerun()
    scored = {(str(evaluation.data), evaluation.split): evaluation
              for evaluation in evaluate.saved_evaluations(choice.source)
              if shown is None or (evaluation.data, evaluation.split) != shown}
    if not scored:
        st.info("Type a folder of labelled photos this model has never seen, such as photos the class took, and "
                "score it: the two results then stand side by side.")
        return
    picked = st.selectbox("Scored folders, the latest first", list(scored), key="compare_with",
                          format_func=lambda option: f"{scored[option].title} · {option[0]}")
    evaluation = scored[picked]
    if evaluation.stale:
        st.warning("The model changed since these scores were saved.")
        if teacher_button("Score this folder again", key="rescore_other", unlocked=unlocked,
                          icon=":material/calculate:"):
            if score(choice, evaluation.data, evaluation.split, evaluation.data.name) is not None:
                st.rerun()
    show_result(choice, evaluation, threshold, "other")


st.title(":material/analytics: Evaluate")
choices = workspace.model_choices()
if not choices:
    st.info("No trained model yet: train one on the Train page first.")
    st.stop()
top = st.columns([3, 2])
choice = top[0].selectbox("Model", choices, format_func=lambda c: c.label, key="model")
threshold = top[1].slider("Threshold: P(hotdog) needed to say hotdog", 0.0, 1.0, 0.5, 0.01, key="threshold")
unlocked = teacher_unlocked()  # scoring runs the model over a whole folder and keeps the result for everyone
own, other = st.columns(2, gap="large")
with own:
    shown = own_photos(choice, workspace.home_dataset(choice), threshold, unlocked)
with other:
    other_folder(choice, shown, threshold, unlocked)
