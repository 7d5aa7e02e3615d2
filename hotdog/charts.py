"""Altair charts for the app, built from run folders and evaluation results; sized to be read from the back of a room.

Every builder returns a complete chart from plain data, so a page redraws the whole chart on each poll. No
Streamlit here (the pages call `st.altair_chart`), no TensorFlow.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd

#: Font sizes for a projector: axis labels, axis titles, legend, chart title.
LABEL_FONT, AXIS_TITLE_FONT, TITLE_FONT = 16, 18, 22
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#e4572e"}
MARK_COLOUR = "#8e44ad"
CLASS_COLOURS = {"hotdog": "#d1495b", "nohotdog": "#66a182"}
CHART_HEIGHT = 300
#: Height of one legend line, added to a chart whose legend lists one line per run.
LEGEND_ROW = 24
METRIC_TITLES = {"loss": "Loss (lower is better)", "accuracy": "Accuracy"}
X_TITLES = {"batch": "Training step (batch)", "epoch": "Epoch"}


def projector(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Big labels and titles on any finished chart."""
    return (chart.configure_axis(labelFontSize=LABEL_FONT, titleFontSize=AXIS_TITLE_FONT, grid=True)
            .configure_legend(labelFontSize=LABEL_FONT, titleFontSize=LABEL_FONT, orient="bottom")
            .configure_title(fontSize=TITLE_FONT, anchor="start"))


# ---------------------------------------------------------------------------------------------- training


def metric_frame(events: list[dict], kind: str) -> pd.DataFrame:
    """Long table (x, metric, split, value) of one event kind: "batch" (x = global step) or "epoch" (x = epoch).

    Batch events carry the training numbers so far in the epoch; epoch events add the validation numbers.
    """
    x_field = "global_step" if kind == "batch" else "epoch"
    rows = []
    for event in events:
        if event.get("event") != kind:
            continue
        for metric in METRIC_TITLES:
            for split, key in (("train", metric), ("validation", f"val_{metric}")):
                if event.get(key) is not None:
                    rows.append({"x": event[x_field], "metric": metric, "split": split, "value": event[key]})
    return pd.DataFrame(rows, columns=["x", "metric", "split", "value"])


def training_chart(events: list[dict], kind: str, metric: str, baseline: float | None = None,
                   marks: Sequence[tuple[int, str]] = ()) -> alt.TopLevelMixin:
    """Loss or accuracy per batch or per epoch, train and validation; accuracy gets the majority-baseline rule, and
    per-epoch charts a labelled vertical rule at each marked (epoch, label): where a lesson happened."""
    frame = metric_frame(events, kind)
    frame = frame[frame["metric"] == metric]
    accuracy = metric == "accuracy"
    y_scale = alt.Scale(domain=[0, 1]) if accuracy else alt.Scale(zero=False)
    x_axis = alt.Axis(tickMinStep=1, format="d")
    per = "per batch" if kind == "batch" else "per epoch"
    lines = alt.Chart(frame).mark_line(
        point=kind == "epoch", strokeWidth=3).encode(
        x=alt.X("x:Q", title=X_TITLES[kind], axis=x_axis),
        y=alt.Y("value:Q", title=metric, scale=y_scale, axis=alt.Axis(format=".0%") if accuracy else alt.Axis()),
        color=alt.Color("split:N", title=None, scale=alt.Scale(domain=list(SPLIT_COLOURS),
                                                               range=list(SPLIT_COLOURS.values()))),
        tooltip=[alt.Tooltip("x:Q", title=X_TITLES[kind]), "split:N",
                 alt.Tooltip("value:Q", title=metric, format=".3f")])
    layers = [lines]
    if accuracy and baseline is not None:
        layers += baseline_rule(baseline, "always the bigger class")
    if kind == "epoch" and marks:
        layers += epoch_rules(marks)
    return projector(alt.layer(*layers).properties(title=f"{METRIC_TITLES[metric]}, {per}", height=CHART_HEIGHT))


def baseline_rule(value: float, text: str) -> list[alt.Chart]:
    """A dashed horizontal line with its label: the score to beat."""
    frame = pd.DataFrame({"y": [value], "label": [f"{text}: {value:.0%}"]})
    rule = alt.Chart(frame).mark_rule(strokeDash=[8, 6], strokeWidth=2, color="#555").encode(y="y:Q")
    label = alt.Chart(frame).mark_text(align="left", baseline="bottom", dx=4, dy=-4, fontSize=LABEL_FONT,
                                       color="#555").encode(x=alt.value(0), y="y:Q", text="label:N")
    return [rule, label]


def epoch_rules(marks: Sequence[tuple[int, str]]) -> list[alt.Chart]:
    """A vertical rule at each marked epoch, labelled at the top of the chart."""
    frame = pd.DataFrame([{"x": epoch, "label": label} for epoch, label in marks])
    rule = alt.Chart(frame).mark_rule(strokeWidth=3, color=MARK_COLOUR).encode(x="x:Q")
    label = alt.Chart(frame).mark_text(align="left", baseline="top", dx=6, dy=4, fontSize=LABEL_FONT,
                                       fontWeight="bold", color=MARK_COLOUR).encode(x="x:Q", y=alt.value(0),
                                                                                    text="label:N")
    return [rule, label]


def comparison_chart(curves: list[dict], metric: str) -> alt.TopLevelMixin:
    """Validation loss or accuracy per epoch, one line per run (rows of `compare.validation_curves`)."""
    frame = pd.DataFrame([row for row in curves if row["metric"] == metric], columns=["run", "epoch", "metric",
                                                                                       "value"])
    accuracy = metric == "accuracy"
    lines = alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(domain=[0, 1]) if accuracy else
                alt.Scale(zero=False), axis=alt.Axis(format=".0%") if accuracy else alt.Axis()),
        color=alt.Color("run:N", title=None, legend=alt.Legend(labelLimit=0, orient="bottom", columns=1)),
        tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", title=metric, format=".3f")])
    return projector(lines.properties(title=f"Validation {METRIC_TITLES[metric].lower()}",
                                      height=CHART_HEIGHT + LEGEND_ROW * len(frame["run"].unique())))


# ---------------------------------------------------------------------------------------------- data


def class_counts_chart(counts: dict[str, dict[str, int]]) -> alt.TopLevelMixin:
    """Photos per split and class, side by side, with the numbers on the bars."""
    frame = pd.DataFrame([{"split": split, "class": name, "photos": number}
                          for split, per_class in counts.items() for name, number in per_class.items()])
    base = alt.Chart(frame).encode(
        x=alt.X("split:N", title=None, sort=list(counts), axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("class:N", sort=list(CLASS_COLOURS)),
        y=alt.Y("photos:Q", title="photos"),
        color=alt.Color("class:N", title=None, scale=alt.Scale(domain=list(CLASS_COLOURS),
                                                              range=list(CLASS_COLOURS.values()))))
    bars = base.mark_bar()
    numbers = base.mark_text(dy=-10, fontSize=LABEL_FONT).encode(text="photos:Q", color=alt.value("black"))
    return projector((bars + numbers).properties(title="Photos per split and class", height=CHART_HEIGHT))


# ---------------------------------------------------------------------------------------------- evaluation


def confusion_chart(matrix: list[list[int]]) -> alt.TopLevelMixin:
    """[[tn, fp], [fn, tp]] as a heatmap: rows are the truth, columns what the model said."""
    names = ["nohotdog", "hotdog"]
    frame = pd.DataFrame([{"truth": names[t], "said": names[s], "photos": matrix[t][s],
                           "right": "right" if t == s else "wrong"} for t in (0, 1) for s in (0, 1)])
    base = alt.Chart(frame).encode(
        x=alt.X("said:N", title="the model said", sort=names, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("truth:N", title="the truth", sort=names))
    cells = base.mark_rect().encode(color=alt.Color("photos:Q", scale=alt.Scale(scheme="blues"), legend=None))
    numbers = base.mark_text(fontSize=32, fontWeight="bold").encode(
        text="photos:Q", color=alt.condition(alt.datum.photos > max(map(max, matrix)) / 2, alt.value("white"),
                                             alt.value("black")))
    return projector((cells + numbers).properties(title="Confusion matrix", height=CHART_HEIGHT))


def roc_chart(curve: dict[str, list[float]], point: tuple[float, float], auc: float | None) -> alt.TopLevelMixin:
    """ROC curve with the chance diagonal and the current threshold marked."""
    title = "ROC curve" + (f" (area {auc:.3f})" if auc is not None else "")
    return _curve_chart(pd.DataFrame({"x": curve["fpr"], "y": curve["tpr"], "threshold": curve["threshold"]}),
                        title, "false positive rate", "true positive rate",
                        point, pd.DataFrame({"x": [0, 1], "y": [0, 1]}))


def pr_chart(curve: dict[str, list[float]], point: tuple[float, float], prevalence: float) -> alt.TopLevelMixin:
    """Precision against recall, with the share of hotdogs (what guessing scores) and the current threshold."""
    return _curve_chart(pd.DataFrame({"x": curve["recall"], "y": curve["precision"],
                                      "threshold": curve["threshold"]}),
                        "Precision and recall", "recall", "precision",
                        point, pd.DataFrame({"x": [0, 1], "y": [prevalence, prevalence]}))


def _curve_chart(frame: pd.DataFrame, title: str, x_title: str, y_title: str, point: tuple[float, float],
                 chance: pd.DataFrame) -> alt.TopLevelMixin:
    unit = alt.Scale(domain=[0, 1])
    line = alt.Chart(frame).mark_line(strokeWidth=3, interpolate="step-after").encode(
        x=alt.X("x:Q", title=x_title, scale=unit), y=alt.Y("y:Q", title=y_title, scale=unit),
        tooltip=[alt.Tooltip("threshold:Q", format=".3f"), alt.Tooltip("x:Q", title=x_title, format=".3f"),
                 alt.Tooltip("y:Q", title=y_title, format=".3f")])
    guess = alt.Chart(chance).mark_line(strokeDash=[8, 6], color="#888").encode(x="x:Q", y="y:Q")
    here = alt.Chart(pd.DataFrame({"x": [point[0]], "y": [point[1]]})).mark_point(
        size=250, filled=True, color="#e4572e").encode(x="x:Q", y="y:Q")
    return projector((line + guess + here).properties(title=title, height=CHART_HEIGHT))
