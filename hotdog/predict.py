"""Verdicts: "Hotdog!" or "Not hotdog!" with P(hotdog), for paths, bytes or PIL images.

`Classifier` is what the CLI, the evaluation and the Predict page all use. Photos go through the same decode and
resize as training (`hotdog.images`); everything else happens inside the saved model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from hotdog import images
from hotdog.runs import BEST_MODEL, CONFIG, read_json

#: Photos per model call: large enough to be fast, small enough to keep memory flat.
BATCH = 32
VERDICT_LABELS = {"hotdog": "Hotdog!", "nohotdog": "Not hotdog!"}
#: The name that loads the pretrained zero-shot model instead of a run or a .keras file.
IMAGENET = "imagenet"


@dataclass(frozen=True)
class Verdict:
    """One photo's answer: P(hotdog) and the verdict at `threshold`, or the reason it could not be read."""

    source: str
    p_hotdog: float | None
    threshold: float = 0.5
    error: str | None = None

    @property
    def verdict(self) -> str | None:
        if self.p_hotdog is None:
            return None
        return "hotdog" if self.p_hotdog >= self.threshold else "nohotdog"

    @property
    def label(self) -> str:
        """What the app shows in big letters."""
        return VERDICT_LABELS[self.verdict] if self.verdict else "Cannot read this photo"

    @property
    def confidence(self) -> float | None:
        """How sure the verdict is: P(hotdog) for a hotdog, 1 - P(hotdog) otherwise."""
        if self.p_hotdog is None:
            return None
        return self.p_hotdog if self.verdict == "hotdog" else 1.0 - self.p_hotdog

    def to_dict(self) -> dict:
        if self.error:
            return {"path": self.source, "error": self.error}
        return {"path": self.source, "p_hotdog": round(self.p_hotdog, 6), "verdict": self.verdict}


class Classifier:
    """A trained (or zero-shot) model ready to give verdicts; safe to share between threads."""

    def __init__(self, model, name: str, source: str, run_config: dict | None = None) -> None:
        import tensorflow as tf

        self.model = model
        self.name = name
        self.source = source
        self.run_config = run_config
        self.image_size = int(model.input_shape[1])
        self._lock = threading.Lock()
        self._infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                                  input_signature=[tf.TensorSpec([None, self.image_size, self.image_size, 3],
                                                                 tf.float32)])

    @classmethod
    def load(cls, source: str | Path) -> "Classifier":
        """A run folder, a .keras file, or "imagenet" (the pretrained zero-shot model, no training)."""
        if str(source) == IMAGENET:
            from hotdog import prior

            return cls(prior.build_imagenet(), IMAGENET, IMAGENET)
        import keras

        path = Path(source)
        run_config = read_json(path / CONFIG) if (path / CONFIG).exists() else None
        model_file = path / BEST_MODEL if path.is_dir() else path
        if not model_file.exists():
            raise FileNotFoundError(f"no model at {model_file}: give a run folder with a {BEST_MODEL}, "
                                    f"a .keras file, or 'imagenet'")
        if model_file.suffix != ".keras":
            raise ValueError(f"{model_file} is not a .keras model file")
        model = keras.saving.load_model(model_file, safe_mode=True)
        return cls(model, path.name, str(path), run_config)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """P(hotdog) for a batch of uint8 photos already at the model's size."""
        with self._lock:
            scores = self._infer(np.asarray(batch, dtype=np.float32))
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def over_readable(self, photos: Iterable[images.ImageSource] | images.ImageSource,
                      names: Sequence[str] | None, compute: Callable[[np.ndarray], Iterable],
                      batch_size: int = BATCH) -> tuple[list[str], list[str | None], dict[int, Any]]:
        """Read every photo at the model's size, then `compute` one result per readable photo, a batch at a time.

        Returns the names, the reason each photo could not be read (None when it could) and the results by photo
        index: a photo that cannot be read never stops the others.
        """
        photos = as_list(photos)
        names = list(names) if names is not None else [images.describe(photo) for photo in photos]
        arrays: dict[int, np.ndarray] = {}
        errors: list[str | None] = []
        for index, photo in enumerate(photos):
            try:
                arrays[index] = images.load_array(photo, self.image_size)
                errors.append(None)
            except images.ImageError as error:
                errors.append(str(error))
        readable, results = list(arrays), {}
        for start in range(0, len(readable), batch_size):
            chunk = readable[start:start + batch_size]
            results.update(zip(chunk, compute(np.stack([arrays[i] for i in chunk]))))
        return names, errors, results

    def predict(self, photos: Iterable[images.ImageSource] | images.ImageSource,
                threshold: float = 0.5, names: Sequence[str] | None = None) -> list[Verdict]:
        """One verdict per photo; a photo that cannot be read gets its reason and the others still get answers."""
        names, errors, scores = self.over_readable(photos, names, self.predict_proba)
        return [Verdict(name, float(scores[i]) if i in scores else None, threshold, error)
                for i, (name, error) in enumerate(zip(names, errors))]


def as_list(photos: Iterable[images.ImageSource] | images.ImageSource) -> list[images.ImageSource]:
    """One photo or many, as a list."""
    if isinstance(photos, (str, Path, bytes, bytearray)) or hasattr(photos, "getpixel"):
        return [photos]
    return list(photos)
