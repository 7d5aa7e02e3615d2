"""Charts for the app, built from run folders and evaluation results; sized to be read from the back of a room.

The training charts are plain Vega-Lite specs with a pyarrow table beside them: the Train page redraws them every
second for every viewer, so they are built once per change of the run (see `hotdog.monitor`), hold a bounded
number of points however long the run, and reach the browser without any further conversion or schema check.
The other charts are Altair charts, built once per page run. No Streamlit here (the pages call
`st.vega_lite_chart` and `st.altair_chart`), no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa

#: Font sizes for a projector: axis labels, axis titles, legend, chart title.
LABEL_FONT, AXIS_TITLE_FONT, TITLE_FONT = 16, 18, 22
#: The same big labels for every chart, Altair or plain Vega-Lite.
PROJECTOR_CONFIG = {"axis": {"labelFontSize": LABEL_FONT, "titleFontSize": AXIS_TITLE_FONT, "grid": True},
                    "legend": {"labelFontSize": LABEL_FONT, "titleFontSize": LABEL_FONT, "orient": "bottom"},
                    "title": {"fontSize": TITLE_FONT, "anchor": "start"}}
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#e4572e"}
#: Colour of the epochs a lesson marks on the charts ("overfitting starts").
MARK_COLOUR = "#8e44ad"
CLASS_COLOURS = {"hotdog": "#d1495b", "nohotdog": "#66a182"}
CHART_HEIGHT = 300
#: Height of one legend line, added to a chart whose legend lists one line per run.
LEGEND_ROW = 24
METRIC_TITLES = {"loss": "Loss (lower is better)", "accuracy": "Accuracy"}
X_TITLES = {"batch": "Training step (batch)", "epoch": "Epoch"}
#: Most points a batch curve draws: past this, neighbouring batches are pooled into their mean and min-max band.
MAX_BATCH_POINTS = 300
#: Up to this many points, a batch curve also marks each point, so the very first batch shows as a dot.
MARKED_POINTS = 60


def projector(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Big labels and titles on any finished Altair chart."""
    return (chart.configure_axis(**PROJECTOR_CONFIG["axis"]).configure_legend(**PROJECTOR_CONFIG["legend"])
            .configure_title(**PROJECTOR_CONFIG["title"]))


# ---------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingChart:
    """A Vega-Lite spec and the table it draws: `st.vega_lite_chart(chart.data, chart.spec)`."""

    spec: dict
    data: pa.Table


def pooled_batches(steps: np.ndarray, values: np.ndarray,
                   max_points: int = MAX_BATCH_POINTS) -> dict[str, np.ndarray]:
    """Batch values pooled into at most `max_points` buckets of consecutive steps: per bucket the mean step (x),
    the mean value and its min-max band. Missing values (NaN) are left out.

    A bucket spans a power of two of steps, the smallest that keeps the count in bounds: it only doubles as the run
    grows, so a point stays where it was drawn until then, instead of every point shifting each second.
    """
    keep = ~np.isnan(values)
    steps, values = steps[keep], values[keep]
    if not len(steps):
        return {name: np.empty(0) for name in ("x", "value", "low", "high")}
    width = 2 ** max(0, math.ceil(math.log2(max(steps.max(), 1) / max_points)))
    buckets, members = np.unique((steps // width).astype(np.int64), return_inverse=True)
    counts = np.bincount(members)
    low, high = np.full(len(buckets), np.inf), np.full(len(buckets), -np.inf)
    np.minimum.at(low, members, values)
    np.maximum.at(high, members, values)
    return {"x": np.bincount(members, weights=steps) / counts,
            "value": np.bincount(members, weights=values) / counts, "low": low, "high": high}


def batch_chart(metric: str, steps: np.ndarray, values: np.ndarray, layers: Sequence[dict] = ()) -> TrainingChart:
    """The training curve per batch: the pooled mean as a line in its min-max band."""
    points = pooled_batches(steps, values)
    x = _x_encoding("batch")
    y = _y_encoding(metric)
    colour = {"datum": "train", "title": None, "scale": _split_scale()}
    tooltip = [{"field": "x", "type": "quantitative", "title": X_TITLES["batch"], "format": ".0f"},
               {"field": "value", "type": "quantitative", "title": metric, "format": ".3f"},
               {"field": "low", "type": "quantitative", "title": "lowest", "format": ".3f"},
               {"field": "high", "type": "quantitative", "title": "highest", "format": ".3f"}]
    band = {"mark": {"type": "area", "opacity": 0.25, "color": SPLIT_COLOURS["train"]},
            "encoding": {"x": x, "y": {**y, "field": "low"}, "y2": {"field": "high"}}}
    line = {"mark": {"type": "line", "strokeWidth": 3, "point": len(points["x"]) <= MARKED_POINTS},
            "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip}}
    return _training_chart("batch", metric, pa.table(points), [band, line, *layers])


def epoch_chart(metric: str, epochs: Sequence[dict], layers: Sequence[dict] = ()) -> TrainingChart:
    """Train and validation `metric` per epoch, every epoch a point."""
    rows = [(event["epoch"], split, float(event[key])) for event in epochs
            for split, key in (("train", metric), ("validation", f"val_{metric}")) if event.get(key) is not None]
    x, split, value = zip(*rows) if rows else ((), (), ())
    table = pa.table({"x": pa.array(x, pa.float64()), "split": pa.array(split, pa.string()),
                      "value": pa.array(value, pa.float64())})
    line = {"mark": {"type": "line", "strokeWidth": 3, "point": True},
            "encoding": {"x": _x_encoding("epoch"), "y": _y_encoding(metric),
                         "color": {"field": "split", "type": "nominal", "title": None, "scale": _split_scale()},
                         "tooltip": [{"field": "x", "type": "quantitative", "title": X_TITLES["epoch"]},
                                     {"field": "split", "type": "nominal"},
                                     {"field": "value", "type": "quantitative", "title": metric, "format": ".3f"}]}}
    return _training_chart("epoch", metric, table, [line, *layers])


def horizontal_rule(value: float, text: str) -> list[dict]:
    """Layers for a dashed horizontal line with its label, e.g. the score to beat; add them to a training chart."""
    constant = {"values": [{}]}  # one row of its own, so the rule is drawn once, not once per point
    y = {"datum": value, "type": "quantitative"}
    return [{"data": constant, "mark": {"type": "rule", "strokeDash": [8, 6], "strokeWidth": 2, "color": "#555"},
             "encoding": {"y": y}},
            {"data": constant, "mark": {"type": "text", "align": "left", "baseline": "bottom", "dx": 4, "dy": -4,
                                        "fontSize": LABEL_FONT, "color": "#555", "text": text},
             "encoding": {"x": {"value": 0}, "y": y}}]


def baseline_rule(value: float) -> list[dict]:
    """The majority baseline on an accuracy chart: what always answering the bigger class scores."""
    return horizontal_rule(value, f"always the bigger class: {value:.0%}")


def epoch_rules(marks: Sequence[tuple[int, str]]) -> list[dict]:
    """Layers for a vertical line at each marked (epoch, label), labelled at the top; add them to an epoch chart."""
    marked = {"values": [{"x": epoch, "label": label} for epoch, label in marks]}
    x = {"field": "x", "type": "quantitative"}
    return [{"data": marked, "mark": {"type": "rule", "strokeWidth": 3, "color": MARK_COLOUR}, "encoding": {"x": x}},
            {"data": marked, "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 6, "dy": 4,
                                      "fontSize": LABEL_FONT, "fontWeight": "bold", "color": MARK_COLOUR},
             "encoding": {"x": x, "y": {"value": 0}, "text": {"field": "label", "type": "nominal"}}}]


def _training_chart(kind: str, metric: str, table: pa.Table, layers: list[dict]) -> TrainingChart:
    per = "per batch" if kind == "batch" else "per epoch"
    return TrainingChart(spec={"title": f"{METRIC_TITLES[metric]}, {per}", "height": CHART_HEIGHT,
                               "config": PROJECTOR_CONFIG, "layer": layers}, data=table)


def _x_encoding(kind: str) -> dict:
    return {"field": "x", "type": "quantitative", "title": X_TITLES[kind], "axis": {"tickMinStep": 1, "format": "d"}}


def _y_encoding(metric: str) -> dict:
    if metric == "accuracy":
        return {"field": "value", "type": "quantitative", "title": metric, "scale": {"domain": [0, 1]},
                "axis": {"format": ".0%"}}
    return {"field": "value", "type": "quantitative", "title": metric, "scale": {"zero": False}}


def _split_scale() -> dict:
    return {"domain": list(SPLIT_COLOURS), "range": list(SPLIT_COLOURS.values())}


def comparison_chart(curves: list[dict], metric: str) -> alt.TopLevelMixin:
    """Validation loss or accuracy per epoch, one line per run (rows of `compare.validation_curves`)."""
    frame = pd.DataFrame([row for row in curves if row["metric"] == metric], columns=["run", "epoch", "metric",
                                                                                       "value"])
    accuracy = metric == "accuracy"
    lines = alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(domain=[0, 1]) if accuracy else alt.Scale(zero=False),
                axis=alt.Axis(format=".0%") if accuracy else alt.Axis()),
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
