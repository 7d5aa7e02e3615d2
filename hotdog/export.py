"""Exports that reload: a model as `.keras`, TensorFlow Lite (float16, or int8 calibrated on training photos) or a
zipped TensorFlow SavedModel, each checked against the Keras model it came from.

Every export keeps the model's contract: raw RGB pixels 0..255 as float32, shape (batch, size, size, 3), in;
P(hotdog), shape (batch, 1), out. The preprocessing is inside, as in the `.keras` file, so a phone app or another
program feeds it the same pixels. The int8 file keeps float32 at its edges and computes in int8 inside; its
activation ranges come from representative photos of the model's own training set.

TFLite files are read back here with `tf.lite.Interpreter`, which TensorFlow now marks as deprecated in favour of
LiteRT (`ai_edge_litert`); the file format is the same.
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hotdog import atomic, data, images, runs
from hotdog.locking import file_lock



@dataclass(frozen=True)
class Format:
    """An export format: its short title, how its file name ends, and what it is for."""

    title: str
    ending: str
    description: str

    @property
    def suffix(self) -> str:
        """The file type its runtime expects: ".keras", ".tflite", ".zip"."""
        return "." + self.ending.rsplit(".", 1)[1]


FORMATS: dict[str, Format] = {
    "keras": Format("Keras", ".keras", "Keras model (.keras), for Python with Keras 3"),
    "tflite": Format("TFLite float16", ".tflite", "TensorFlow Lite, float16 weights: phones and small computers"),
    "tflite-int8": Format("TFLite int8", "-int8.tflite",
                          "TensorFlow Lite, int8 weights and activations: the smallest file"),
    "savedmodel": Format("SavedModel", "-savedmodel.zip",
                         "TensorFlow SavedModel (zip): TensorFlow Serving and other TensorFlow programs"),
}
#: Training photos the int8 converter sees to set its activation ranges.
REPRESENTATIVE_PHOTOS = 100
#: Photos an export is checked on after it is written.
CHECK_PHOTOS = 20
#: The SavedModel's inference function, as Keras names it.
SERVING_ENDPOINT = "serve"
EXPORTS_FOLDER = "exports"

Predict = Callable[[np.ndarray], np.ndarray]


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown format, no photos to calibrate int8 on)."""


def file_name(model_name: str, fmt: str) -> str:
    """"<model>.keras", "<model>.tflite", "<model>-int8.tflite", "<model>-savedmodel.zip"."""
    return f"{model_name}{FORMATS[_checked(fmt)].ending}"


def _checked(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return fmt


# ---------------------------------------------------------------------------------------------- photos


def sample_photos(root: str | Path, split: str, count: int, size: int, seed: int = 0) -> np.ndarray:
    """Up to `count` readable photos of one split, as many of each class as there are (uint8, size x size).

    The same seed picks the same photos; unreadable files are skipped.
    """
    dataset = data.load_dataset(root, seed=seed)
    if split not in dataset.splits:
        raise ExportError(f"{root} has no {split} split")
    rng = np.random.default_rng(seed)
    by_class = [[example.path for example in dataset.splits[split] if example.label == label] for label in (1, 0)]
    for paths in by_class:
        rng.shuffle(paths)
    photos: list[np.ndarray] = []
    for path in (path for pair in _alternate(*by_class) for path in pair):
        if len(photos) == count:
            break
        try:
            photos.append(images.load_array(path, size))
        except images.ImageError:
            continue
    if not photos:
        raise ExportError(f"no readable photos in the {split} split of {root}")
    return np.stack(photos)


def _alternate(first: list, second: list):
    """(a1, b1), (a2, b2), ..., then the rest of the longer list one by one."""
    for index in range(max(len(first), len(second))):
        yield [items[index] for items in (first, second) if index < len(items)]


def run_dataset(run: runs.Run) -> tuple[Path, int]:
    """The dataset a run trained on and the seed that split it (its validation photos are the same ones)."""
    if not run.dataset_path.is_dir():
        raise ExportError(f"the training photos of {run.id} are not at {run.dataset_path} any more")
    return run.dataset_path, int(run.settings.get("seed", 0))


# ---------------------------------------------------------------------------------------------- writing


def export_model(model, fmt: str, out: str | Path, representative: np.ndarray | None = None) -> Path:
    """Write `model` in format `fmt` to the file `out`, atomically; `representative` photos (uint8, at the model's
    size) are needed for "tflite-int8". Returns `out`."""
    _checked(fmt)
    out = Path(out)
    if out.suffix != FORMATS[fmt].suffix:
        raise ExportError(f"a {fmt} export is a {FORMATS[fmt].suffix} file; {out} has another ending")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "tflite-int8" and (representative is None or not len(representative)):
        raise ExportError("an int8 export needs representative photos from the training set")
    model = _for_inference(model)
    with tempfile.TemporaryDirectory(prefix="hotdog-export-") as folder, atomic.atomic_path(out) as target:
        if fmt == "keras":
            model.save(target)
        else:
            saved_model = Path(folder) / out.stem.removesuffix("-savedmodel")
            model.export(str(saved_model), format="tf_saved_model", verbose=False)
            if fmt == "savedmodel":
                _zip_folder(saved_model, target)
            else:
                target.write_bytes(_tflite(saved_model, representative))
    return out


def _for_inference(model):
    """The same network and weights without the optimizer's state: a third of the size for an Adam-trained model."""
    import keras

    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _zip_folder(folder: Path, target: Path) -> None:
    """A zip holding `folder` itself (one top folder), so it unpacks tidily."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent))


def _tflite(saved_model: Path, representative: np.ndarray | None) -> bytes:
    """Float16 weights, or (with representative photos) int8 weights and activations, float32 in and out."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is None:
        converter.target_spec.supported_types = [tf.float16]
    else:
        photos = np.asarray(representative, np.float32)
        converter.representative_dataset = lambda: ([photos[i : i + 1]] for i in range(len(photos)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


# ---------------------------------------------------------------------------------------------- reading back


def load_export(path: str | Path) -> Predict:
    """Any export read back by the runtime it is made for: a function from uint8 photos to P(hotdog) per photo."""
    path = Path(path)
    if path.suffix == ".keras":
        from hotdog.predict import Classifier

        return Classifier.load(path).predict_proba
    if path.suffix == ".tflite":
        return _tflite_predict(path)
    if path.suffix == ".zip":
        return _saved_model_predict(path)
    raise ExportError(f"{path} is not an export (.keras, .tflite or a SavedModel .zip)")


def _tflite_predict(path: Path) -> Predict:
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        interpreter = tf.lite.Interpreter(model_path=str(path))

    def predict(photos: np.ndarray) -> np.ndarray:
        photos = np.asarray(photos, np.float32)
        input_index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(input_index, photos.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, photos)
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), np.float64).reshape(-1)

    return predict


def _saved_model_predict(path: Path) -> Predict:
    """Unzip into a private temporary folder, load, and serve; the folder goes once the model is in memory."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="hotdog-savedmodel-") as folder:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)  # zipfile drops absolute paths and ".." parts
        tops = [child for child in Path(folder).iterdir() if (child / "saved_model.pb").is_file()]
        if len(tops) != 1:
            raise ExportError(f"{path} does not hold one SavedModel folder")
        loaded = tf.saved_model.load(str(tops[0]))

    def predict(photos: np.ndarray) -> np.ndarray:  # holds `loaded`: its variables live as long as this function
        scores = getattr(loaded, SERVING_ENDPOINT)(np.asarray(photos, np.float32))
        return np.asarray(scores, np.float64).reshape(-1)

    return predict


@dataclass(frozen=True)
class Agreement:
    """How closely an export's P(hotdog) follows the Keras model's on the same photos."""

    photos: int
    max_difference: float
    same_verdicts: int

    def describe(self) -> str:
        difference = f"{max(self.max_difference, 0.001):.3f}"
        return (f"reloaded and checked on {self.photos} photos: P(hotdog) within {difference} of the Keras model, "
                f"{self.same_verdicts}/{self.photos} verdicts the same")


def agreement(reference: Predict, exported: Predict, photos: np.ndarray, threshold: float = 0.5) -> Agreement:
    expected, got = reference(photos), exported(photos)
    return Agreement(len(photos), float(np.max(np.abs(expected - got))),
                     int(np.sum((expected >= threshold) == (got >= threshold))))


# ---------------------------------------------------------------------------------------------- the whole job


def export(classifier, fmt: str, out: str | Path, dataset: tuple[Path, int] | None = None
           ) -> tuple[Path, Agreement | None]:
    """Export a classifier's model to `out` and check that the file reloads and agrees with the model.

    `dataset` (root, seed) gives the photos: its training split calibrates int8, its validation split checks the
    export. Without it an int8 export is refused and the other formats are written unchecked.
    """
    _checked(fmt)
    size = classifier.image_size
    if fmt == "tflite-int8" and dataset is None:
        raise ExportError("an int8 export needs training photos to calibrate on: give the dataset (--data DIR)")
    representative = sample_photos(dataset[0], "train", REPRESENTATIVE_PHOTOS, size, dataset[1]) \
        if fmt == "tflite-int8" else None
    out = export_model(classifier.model, fmt, out, representative)
    if dataset is None:
        return out, None
    check = sample_photos(dataset[0], "validation", CHECK_PHOTOS, size, dataset[1])
    return out, agreement(classifier.predict_proba, load_export(out), check)


def run_export_path(run: runs.Run, fmt: str) -> Path:
    """Where a run keeps its export in `fmt`: `exports/<run id><ending>` in its folder."""
    return run.path / EXPORTS_FOLDER / file_name(run.id, fmt)


def kept_check(run: runs.Run, fmt: str) -> str | None:
    """How the run's kept export in `fmt` was checked, or None when it has none newer than its model."""
    out = run_export_path(run, fmt)
    note = out.with_name(out.name + ".json")
    if out.is_file() and note.is_file() and out.stat().st_mtime >= run.model_path.stat().st_mtime:
        return runs.read_json(note).get("check") or None
    return None


def run_export(run: runs.Run, fmt: str) -> tuple[Path, str]:
    """A run's export in its `exports/` folder, made on first request and kept while the model does not change,
    and the sentence saying how it was checked."""
    from hotdog.predict import Classifier

    out = run_export_path(run, fmt)
    out.parent.mkdir(exist_ok=True)
    with file_lock(out.with_name(f".{out.name}.lock")):  # two viewers asking at once: one conversion
        check = kept_check(run, fmt)
        if check is None:
            out, agreement = export(Classifier.load(run.path), fmt, out, run_dataset(run))
            check = agreement.describe()
            atomic.write_json(out.with_name(out.name + ".json"), {"format": fmt, "check": check})
    return out, check
