"""One training run: data -> model -> fit, with every event written to the run folder as it happens.

`new_run()` claims a run folder under the server-wide lock; `train()` trains it in the current process;
`train_and_report()` is the whole of a training process (the CLI, a spawned process, a child of the warm worker).
Starting that process from the app is `hotdog.launch`'s job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotdog import atomic, runs
from hotdog.models import REGISTRY, get_spec
from hotdog.recipe import class_weights

HEARTBEAT_EVERY_S = 5.0
#: Aim for about this many batch events per epoch (always the first and the last batch).
BATCH_EVENTS_PER_EPOCH = 25


@dataclass
class TrainConfig:
    """Every setting of a run. None means "the model's default" and is filled in by `resolved()`."""

    data: str
    model: str = "cnn"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    image_size: int | None = None
    class_weight: str = "auto"
    augment: bool | None = None
    early_stopping: bool = False
    seed: int = 0
    mixed_precision: bool = False
    fine_tune_epochs: int = 0
    name: str | None = None

    def resolved(self) -> "TrainConfig":
        spec = get_spec(self.model)
        if not spec.trainable:
            raise ValueError(f"model {self.model!r} is used as it is and cannot be trained")
        if self.class_weight not in ("auto", "none"):
            raise ValueError("class_weight must be 'auto' or 'none'")
        resolved = dataclasses.replace(
            self, data=str(Path(self.data).expanduser().resolve()),
            epochs=_default(self.epochs, spec.epochs), batch_size=_default(self.batch_size, spec.batch_size),
            learning_rate=_default(self.learning_rate, spec.learning_rate),
            image_size=_default(self.image_size, spec.image_size), augment=_default(self.augment, spec.augment))
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(resolved, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if resolved.image_size < 32:
            raise ValueError("image_size must be at least 32 pixels")
        if not resolved.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if resolved.fine_tune_epochs < 0:
            raise ValueError("fine_tune_epochs must be 0 or more")
        if resolved.fine_tune_epochs and not spec.transfer:
            pretrained = ", ".join(name for name, other in REGISTRY.items() if other.transfer and other.trainable)
            raise ValueError(f"fine-tuning needs a pretrained model ({pretrained}); {self.model!r} has no "
                             f"pretrained backbone to fine-tune")
        return resolved


def _default(value, default):
    return default if value is None else value



def library_versions() -> dict[str, str]:
    import keras
    import numpy
    import PIL
    import tensorflow as tf

    return {"python": sys.version.split()[0], "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__, "pillow": PIL.__version__}


# ---------------------------------------------------------------------------------------------- callbacks


def _metrics_callbacks(run: runs.Run, stop: threading.Event, start_time: float):
    import keras

    def floats(logs: dict | None) -> dict[str, float]:
        return {key: float(value) for key, value in (logs or {}).items()}

    class MetricsLogger(keras.callbacks.Callback):
        """Appends batch and epoch events to metrics.jsonl, flushed at once, for the live charts."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            self.steps = self.params.get("steps") or 0
            self.every = max(1, self.steps // BATCH_EVENTS_PER_EPOCH)

        def _event(self, kind: str, step: int, logs: dict | None) -> dict:
            now = time.time()
            return {"event": kind, "epoch": self.epoch, "epochs": self.params.get("epochs"), "step": step,
                    "steps": self.steps, "global_step": (self.epoch - 1) * self.steps + step,
                    **floats(logs), "time": now, "elapsed": now - start_time}

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            step = batch + 1
            if step == 1 or step % self.every == 0 or step == self.steps or stop.is_set():
                runs.append_jsonl(run.path / runs.METRICS, self._event("batch", step, logs))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            event = self._event("epoch", self.steps, logs)
            if stop.is_set():
                event["partial"] = True
            runs.append_jsonl(run.path / runs.METRICS, event)

    class Checkpoints(keras.callbacks.Callback):
        """Saves the best epoch (validation loss) and the last one, each atomically.

        `whole` is the model to save when the one being fitted is only its head, trained on cached features: its
        epochs take milliseconds and a save takes seconds, so the head's weights are kept per epoch and the whole
        model is saved once, when training ends.
        """

        def __init__(self, best: float, whole: "keras.Model | None" = None) -> None:
            super().__init__()
            self.best = best
            self.whole = whole
            self.pending: dict[str, list] = {}

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = floats(logs)
            self.save(runs.LAST_MODEL)
            if logs.get("val_loss", float("inf")) < self.best:
                self.best = logs["val_loss"]
                self.save(runs.BEST_MODEL)
                run.update_status(best_epoch=epoch + 1, best_val_loss=self.best,
                                  best_val_accuracy=logs.get("val_accuracy"))
            run.update_status(epochs_completed=epoch + 1)

        def save(self, name: str) -> None:
            if self.whole is None or self.whole is self.model:
                _save_model(self.model, run.path / name)
            else:
                self.pending[name] = self.model.get_weights()

        def on_train_end(self, logs: dict | None = None) -> None:
            if not self.pending:
                return
            trained = self.model.get_weights()
            for name, weights in self.pending.items():
                self.model.set_weights(weights)
                _save_model(self.whole, run.path / name)
            self.model.set_weights(trained)
            self.pending.clear()

    class StopOnRequest(keras.callbacks.Callback):
        """A STOP file or SIGTERM ends training after the current batch."""

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if (run.path / runs.STOP).exists():
                stop.set()
            if stop.is_set():
                self.model.stop_training = True

    return MetricsLogger, Checkpoints, StopOnRequest


def _save_model(model, path: Path) -> None:
    """A failed save (a full disk) leaves the previous checkpoint in place and no partial file taking the space."""
    with atomic.atomic_path(path) as temporary:
        model.save(temporary)


def _heartbeat(run: runs.Run, done: threading.Event) -> None:
    while not done.wait(HEARTBEAT_EVERY_S):
        try:
            run.update_status(heartbeat=time.time())
        except OSError:
            return


# ---------------------------------------------------------------------------------------------- the run


def new_run(config: TrainConfig, runs_dir: Path | None = None) -> runs.Run:
    """Check the settings and claim a run folder for them (TrainingBusy while another training runs)."""
    from hotdog.data import load_dataset

    config = config.resolved()
    load_dataset(config.data, seed=config.seed)  # a wrong folder is refused before any run folder exists
    runs_dir = Path(runs_dir or runs.default_runs_dir()).resolve()
    return runs.claim_run(runs_dir, runs.new_run_id(config.model, config.name), _config_record(config))


def train(run: runs.Run, verbose: int = 1) -> runs.Run:
    """Train a claimed run in this process and return it; its status says how it ended.

    A run that already has completed epochs (stopped, or killed) continues from its last checkpoint.
    """
    settings = run.config.get("settings")
    if not settings:
        raise ValueError(f"run {run.id} cannot be trained: {run.damage or 'config.json has no settings'}")
    config = TrainConfig(**settings)
    run.update_status(pid=os.getpid(), heartbeat=time.time())
    stop, done = threading.Event(), threading.Event()
    handlers = _stop_on_signals(stop)
    threading.Thread(target=_heartbeat, args=(run, done), daemon=True).start()
    try:
        _fit(config, run, stop, verbose)
    except BaseException as error:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        run.update_status(state="failed", error=message, traceback=traceback.format_exc(limit=8),
                          ended_at=runs.now_iso())
        raise
    finally:
        done.set()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return run


def _stop_on_signals(stop: threading.Event) -> dict:
    """SIGTERM and Ctrl+C end training after the current batch, keeping the best model (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}


def _config_record(config: TrainConfig) -> dict:
    return {"settings": dataclasses.asdict(config), "created_at": runs.now_iso()}


def _fit(config: TrainConfig, run: runs.Run, stop: threading.Event, verbose: int) -> None:
    from hotdog import data, demo_data, devices
    from hotdog.evaluate import binary_metrics

    strategy, device = devices.setup(config.mixed_precision)
    import keras

    keras.utils.set_random_seed(config.seed)
    run.update_status(state="running", device=device, started_at=run.status.get("started_at") or runs.now_iso(),
                      phase="decoding photos")
    dataset = data.load_dataset(config.data, seed=config.seed)
    decoded = {split: data.decode(dataset.splits[split], config.image_size) for split in ("train", "validation")}
    unreadable = [entry for d in decoded.values() for entry in d.unreadable] + dataset.left_out()
    counts = {split: data.class_counts(data.Example(p, int(l)) for p, l in zip(d.paths, d.labels))
              for split, d in decoded.items()}
    record = run.config
    duplicates = data.cross_split_duplicates(dataset)
    record.update(dataset={"path": str(dataset.root), "synthetic": demo_data.is_complete(dataset.root),
                           "counts": dataset.counts(), "used": counts,
                           "validation_from_train": dataset.validation_from_train,
                           "fingerprint": dataset.fingerprint(), "unreadable": unreadable,
                           "majority_baseline": {s: data.majority_baseline(c) for s, c in counts.items()},
                           "duplicates_across_splits": len(duplicates), "duplicate_examples": duplicates[:5]},
                  versions=library_versions(), device=device)
    atomic.write_json(run.path / runs.CONFIG, record)
    for split, d in decoded.items():
        if len(set(d.labels.tolist())) < 2:
            raise data.DataError(f"the {split} split has readable photos of only one class; both are needed")

    with strategy.scope():
        model, initial_epoch, best = _model_for(config, run, len(decoded["train"].labels))
    photos = {split: data.make_tf_dataset(d, config.batch_size, shuffle=split == "train", seed=config.seed)
              for split, d in decoded.items()}
    MetricsLogger, Checkpoints, StopOnRequest = _metrics_callbacks(run, stop, time.time())
    callbacks = [MetricsLogger(), StopOnRequest(), Checkpoints(best, whole=model),
                 keras.callbacks.TensorBoard(log_dir=str(run.path / runs.TENSORBOARD), write_graph=False)]
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True))
    class_weight = class_weights(decoded["train"].labels) if config.class_weight == "auto" else None

    def fit(fitted: keras.Model, train_data, val_data, epochs: int, initial_epoch: int) -> None:
        fitted.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                   class_weight=class_weight, callbacks=callbacks, verbose=verbose,
                   shuffle=False)  # the pipelines shuffle themselves

    if initial_epoch < config.epochs:
        with strategy.scope():
            fitted, train_data, val_data = _what_to_fit(config, model, decoded, photos, run)
        run.update_status(phase="training")
        fit(fitted, train_data, val_data, config.epochs, initial_epoch)
    if config.fine_tune_epochs and not stop.is_set():
        from hotdog import transfer

        done = run.status.get("epochs_completed", 0)
        start = run.status.get("fine_tune_from") or done  # its epochs continue the numbering, also when resumed
        if done == start:  # else a resumed run's checkpoint is already unfrozen, with its optimizer state
            with strategy.scope():
                transfer.prepare_fine_tuning(model)
        run.update_status(phase="fine-tuning", fine_tune_from=start)
        fit(model, photos["train"], photos["validation"], start + config.fine_tune_epochs, done)
    if get_spec(config.model).imagenet_prior and run.has_model():
        with strategy.scope():
            _combine_with_prior(config, run, decoded)

    summary = {}
    if run.has_model():
        best_model = keras.saving.load_model(run.model_path, safe_mode=True)
        scores = best_model.predict(photos["validation"], verbose=0).reshape(-1)
        summary = binary_metrics(decoded["validation"].labels, scores)
    run.update_status(state="stopped" if stop.is_set() else "completed", ended_at=runs.now_iso(),
                      phase=None, validation=summary,
                      note=None if run.has_model() else "stopped before the first epoch ended: no model saved")


def _combine_with_prior(config: TrainConfig, run: runs.Run, decoded: dict) -> None:
    """Replace the saved model by the robust one: the last checkpoint's head combined with ImageNet's own verdict
    (or the `imagenet` model itself, when cross-validation finds no evidence that the head helps).

    The mix is chosen by cross-validation on the train and validation photos (`hotdog.prior`) with heads trained for
    as many epochs as that head had: the last checkpoint, not the best one, because on a handful of validation
    photos the best epoch is mostly chance.
    """
    import keras

    from hotdog import prior

    if prior.is_combined(keras.saving.load_model(run.model_path, safe_mode=True)):
        return  # a resumed run that was already combined
    run.update_status(phase="combining with ImageNet's verdict")
    last = keras.saving.load_model(run.path / runs.LAST_MODEL, safe_mode=True)
    epochs = min(run.status.get("epochs_completed") or config.epochs, config.epochs)
    robust, mix = prior.combine(last, [decoded["train"], decoded["validation"]], get_spec(config.model).imagenet_prior,
                                epochs, config.learning_rate, config.batch_size, config.seed)
    _save_model(robust, run.model_path)
    run.update_status(imagenet_prior={**mix.to_dict(), "head_epochs": epochs})


def _model_for(config: TrainConfig, run: runs.Run, n_train: int):
    """A fresh compiled model, or the last checkpoint with its optimizer state when the run is resumed."""
    import keras

    from hotdog.models import build_model

    done = run.status.get("epochs_completed", 0)
    if not (run.path / runs.LAST_MODEL).exists():
        done = 0  # killed before its first checkpoint (a head trained on features saves only when it ends)
    _drop_events_after(run, done)
    if done:
        model = keras.saving.load_model(run.path / runs.LAST_MODEL, safe_mode=True)
        return model, done, run.status.get("best_val_loss", float("inf"))
    total_steps = -(-n_train // config.batch_size) * config.epochs
    model = build_model(config.model, config.image_size, config.augment, config.learning_rate, total_steps)
    return model, 0, float("inf")


def _what_to_fit(config: TrainConfig, model, decoded: dict, photos: dict, run: runs.Run):
    """(model, training data, validation data) to fit: the model on photos, or, for a transfer model without
    augmentation, its head on the backbone's features of the photos, computed once and cached."""
    if not get_spec(config.model).transfer or config.augment:
        return model, photos["train"], photos["validation"]
    from hotdog import transfer

    run.update_status(phase="computing features")
    return transfer.head_on_features(model, decoded["train"], decoded["validation"], config.batch_size, config.seed)


def _drop_events_after(run: runs.Run, epoch: int) -> None:
    """Keep the metrics history up to the last completed epoch: the interrupted epoch is trained again."""
    kept = [event for event in run.metrics() if event.get("epoch", 0) <= epoch]
    atomic.write_text(run.path / runs.METRICS, "".join(json.dumps(event) + "\n" for event in kept))




def run_summary(run: runs.Run) -> dict[str, Any]:
    """What the console prints at the end: where the run is and how it did."""
    status = run.status
    epochs = [e for e in run.metrics() if e["event"] == "epoch"]
    last = epochs[-1] if epochs else {}
    return {"run": str(run.path), "state": status.get("state"), "error": status.get("error"),
            "epochs": len(epochs), "best_epoch": status.get("best_epoch"),
            "loss": last.get("loss"), "accuracy": last.get("accuracy"), "val_loss": last.get("val_loss"),
            "val_accuracy": last.get("val_accuracy"), "validation": status.get("validation", {}),
            "imagenet_prior": status.get("imagenet_prior"), "model": str(run.model_path) if run.has_model() else None}


def summary_text(summary: dict[str, Any]) -> str:
    """`run_summary` as the console shows it."""
    text = f"{summary['state']}: {summary['epochs']} epochs, run folder {summary['run']}"
    validation, mix = summary["validation"], summary.get("imagenet_prior")
    if mix and mix["alpha"] == 0:
        model = "saved model (ImageNet's verdict alone: no evidence that the trained head helps)"
    elif mix:
        model = (f"saved model (the head of epoch {mix['head_epochs']} mixed with ImageNet's verdict, "
                 f"head weight {mix['alpha']})")
    else:
        model = f"best model (epoch {summary['best_epoch']})"
    if validation:
        text += (f"\n{model} on validation: accuracy {validation['accuracy']:.3f}, "
                 f"balanced accuracy {validation['balanced_accuracy']:.3f}, "
                 f"always-nohotdog/hotdog baseline {validation['majority_baseline']:.3f}")
    return text


def configure_console() -> None:
    """How a process that trains or predicts talks: no TensorFlow C++ chatter, one line per warning."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


def train_and_report(run: runs.Run, json_output: bool = False) -> int:
    """A training process from start to end: train the claimed run here, print how it ended, return the exit status.

    Args:
        run: a run folder claimed by `new_run`, `runs.reclaim_run` or the app.
        json_output: no progress bar, and the summary as one JSON line (for scripts).

    Returns:
        0 when the run completed or was stopped (its best model is kept), 1 otherwise.
    """
    configure_console()
    print(f"run folder: {run.path}", file=sys.stderr)
    train(run, verbose=0 if json_output else (1 if sys.stdout.isatty() else 2))
    summary = run_summary(run)
    print(json.dumps(summary, default=str) if json_output else f"\n{summary_text(summary)}", flush=True)
    return 0 if summary["state"] in ("completed", "stopped") else 1
