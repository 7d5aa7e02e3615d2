"""Reading a run folder's files without trusting them: a hand edit, a full disk or a crash can leave anything there.

Each reader returns what is usable plus the problems found, never an exception: a file that is not a JSON object
counts as empty, a known field of the wrong type is dropped (so `.get(field, default)` always gives the default or a
value of the right type), and a metrics line that is not a whole event is skipped. `runs.Run` is the one place that
calls these, and it reports the problems in config.json and status.json as the run's damage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

NUMBER = (int, float)
#: What a known field must hold: a type, a tuple of types, or a dict of the fields of a nested object.
Spec = Union[type, tuple, dict]

SETTINGS: dict[str, Spec] = {
    "data": str, "model": str, "epochs": int, "batch_size": int, "learning_rate": NUMBER, "image_size": int,
    "class_weight": str, "augment": bool, "early_stopping": bool, "seed": int, "mixed_precision": bool,
    "fine_tune_epochs": int, "name": str}
DATASET: dict[str, Spec] = {
    "path": str, "counts": dict, "used": dict, "validation_from_train": bool, "fingerprint": str, "unreadable": list,
    "majority_baseline": dict}
#: Fields a run's files always have once written.
CONFIG_REQUIRED, STATUS_REQUIRED = ("settings",), ("state",)
CONFIG: dict[str, Spec] = {"settings": SETTINGS, "dataset": DATASET, "versions": dict, "created_at": str,
                           "device": str}
VALIDATION: dict[str, Spec] = {
    "n": int, "threshold": NUMBER, "accuracy": NUMBER, "balanced_accuracy": NUMBER, "precision": NUMBER,
    "recall": NUMBER, "specificity": NUMBER, "f1": NUMBER, "roc_auc": NUMBER, "confusion_matrix": list,
    "majority_baseline": NUMBER, "majority_class": str}
STATUS: dict[str, Spec] = {
    "state": str, "pid": int, "heartbeat": NUMBER, "created_at": str, "started_at": str, "ended_at": str,
    "device": str, "phase": str, "error": str, "traceback": str, "note": str, "epochs_completed": int,
    "best_epoch": int, "best_val_loss": NUMBER, "best_val_accuracy": NUMBER, "fine_tune_from": int,
    "validation": VALIDATION}
#: Fields every metrics event of a kind must have; any other field but "event" must be a number ("partial" a
#: boolean): the loss, the accuracy and whatever else Keras logged.
EVENT_FIELDS: dict[str, dict[str, Spec]] = {
    "batch": {"epoch": int, "epochs": int, "step": int, "steps": int, "global_step": int, "elapsed": NUMBER},
    "epoch": {"epoch": int}}


def read_object(path: Path, spec: dict[str, Spec], required: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """A JSON object file checked against `spec`: (the usable fields, problems). A missing file is no problem; a
    file without one of the `required` fields is."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as error:
        return {}, [f"{path.name} cannot be read ({type(error).__name__})"]
    if not text.strip():
        return {}, [f"{path.name} is empty"]
    try:
        loaded = json.loads(text)
    except ValueError:
        return {}, [f"{path.name} is not valid JSON (cut short?)"]
    clean, problems = checked(loaded, spec, path.name)
    if isinstance(loaded, dict):
        problems += [f"{path.name} has no {key}" for key in required if key not in loaded]
    return clean, problems


def checked(value: Any, spec: dict[str, Spec], where: str) -> tuple[dict, list[str]]:
    """`value` as an object holding only fields of the right type (unknown fields kept), and what was wrong."""
    if not isinstance(value, dict):
        return {}, [f"{where} holds {_kind(value)}, not an object"]
    problems: list[str] = []
    clean = {}
    for key, item in value.items():
        wanted = spec.get(key)
        if item is None:
            if isinstance(wanted, dict) or wanted in (dict, list):
                problems.append(f"{where} {key} is null")
            continue  # a plain value of None is the same as absent: every reader has a default
        if isinstance(wanted, dict):
            item, inner = checked(item, wanted, f"{where} {key}")
            problems += inner
            if inner and not item:
                continue
        elif wanted is not None and not _is(item, wanted):
            problems.append(f"{where} {key} is {_kind(item)}")
            continue
        clean[key] = item
    return clean, problems


def read_events(path: Path) -> list[dict]:
    """The whole events of metrics.jsonl, in order: a line that is not one (damaged, or half-written by a writer
    killed mid-line or still writing) is skipped."""
    try:
        content = path.read_bytes()
    except OSError:
        return []
    events = (parse_event(line) for line in content.split(b"\n") if line.strip())
    return [event for event in events if event is not None]


def parse_event(line: bytes) -> dict | None:
    """One line of metrics.jsonl as an event, or None when it is not a whole one (see `EVENT_FIELDS`)."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict) or event.get("event") not in EVENT_FIELDS:
        return None
    required = EVENT_FIELDS[event["event"]]
    if any(key not in event for key in required):
        return None
    for key, value in event.items():
        wanted = str if key == "event" else required.get(key, bool if key == "partial" else NUMBER)
        if not _is(value, wanted):
            return None
    return event


def _is(value: Any, wanted: type | tuple) -> bool:
    """isinstance, except that True and False are not numbers here."""
    if isinstance(value, bool):
        return wanted is bool or (isinstance(wanted, tuple) and bool in wanted)
    return isinstance(value, wanted)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
