"""The bundled digits ViT: weights, static int8 scales, held-out test and calibration splits, recorded accuracy.

One compressed .npz (no pickles: every entry is a plain numeric or string array) written by
scripts/train_digits_vit.py from scikit-learn's copy of the UCI 8x8 handwritten digits. Keys:

* `config`: the VitConfig as JSON; `weight/<name>`: float32 tensors (vit.parameter_shapes);
  `a_scales`, `b_scales`: static int8 scales per GEMM index;
* `test_images`, `test_labels`, `test_index` and `calibration_*`: the two held-out splits
  (pixels 0..16 as uint8, labels, indices into sklearn's load_digits order); neither was trained on;
* `recorded/<name>`: the training script's measurements (float and int8 accuracies, correct counts);
* `name` (optional): the model's name (default digits_vit).

A bundle written by `abftsim import-model` holds only a calibration split (the images its
scales were calibrated on); its images are float32 model inputs (already normalised as the
checkpoint expects), where the digits' are uint8 pixels 0..16. Loading needs numpy only; nothing
is downloaded.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from simulator.functional.vit import VitConfig, VitWeights

BUNDLED_NAME = "digits_vit.npz"
PIXEL_MAX = 16.0  # the digits' pixel values are 0..16
SPLITS = ("test", "calibration")


@dataclass(frozen=True)
class Split:
    """Held-out images (uint8 pixels), labels and their indices into sklearn's load_digits()."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int | None) -> Split:
        """The first n examples (all of them for None)."""
        if n is None or n >= len(self):
            return self
        return Split(self.name, self.images[:n], self.labels[:n], self.index[:n])

    def inputs(self) -> np.ndarray:
        """The model input: float images as they are; the digits' uint8 pixels scaled to [0, 1]."""
        if np.issubdtype(self.images.dtype, np.floating):
            return self.images.astype(np.float32)
        return (self.images.astype(np.float32) / np.float32(PIXEL_MAX)).astype(np.float32)


@dataclass(frozen=True)
class ModelBundle:
    params: VitWeights
    splits: dict[str, Split]
    recorded: dict[str, float]
    source: str
    name: str = "digits_vit"

    def split(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            raise ValueError(f"unknown split {name!r} (known: {', '.join(self.splits)})") from None


def bundled_path() -> Path:
    return Path(str(resources.files("simulator.functional") / "data" / BUNDLED_NAME))


def load_bundle(path: str | Path | None = None) -> ModelBundle:
    """Load a model bundle (default: the bundled digits ViT). Raises ValueError on a bad file."""
    file = Path(path) if path is not None else bundled_path()
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # EOFError: an empty file
        raise ValueError(f"{file}: cannot read the model bundle: {exc}") from None
    try:
        config = VitConfig.from_json(str(arrays["config"]))
        weights = {k.removeprefix("weight/"): v.astype(np.float32) for k, v in arrays.items()
                   if k.startswith("weight/")}  # fmt: skip
        params = VitWeights(config, weights, arrays["a_scales"].astype(np.float64),
                           arrays["b_scales"].astype(np.float64))  # fmt: skip
        splits = {
            s: Split(
                s, arrays[f"{s}_images"], arrays[f"{s}_labels"].astype(np.int64), arrays[f"{s}_index"].astype(np.int64)
            )
            for s in SPLITS
            if f"{s}_images" in arrays
        }
        recorded = {k.removeprefix("recorded/"): float(v) for k, v in arrays.items() if k.startswith("recorded/")}
        name = str(arrays["name"]) if "name" in arrays else "digits_vit"
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{file}: not a model bundle: {exc}") from None
    return ModelBundle(params, splits, recorded, f"bundled:{BUNDLED_NAME}" if path is None else str(file), name)


def load_images(path: str | Path, name: str = "data") -> Split:
    """A user data set: an .npz with `images` (float32 model inputs, N x C x H x W) and `labels` (N)."""
    file = Path(path)
    try:
        with np.load(file, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # EOFError: an empty file
        raise ValueError(f"{file}: cannot read images and labels: {exc}") from None
    if not np.issubdtype(images.dtype, np.floating) or images.ndim != 4:
        raise ValueError(f"{file}: images must be float N x C x H x W model inputs, got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{file}: labels must be {images.shape[0]} integers, got {labels.dtype} {labels.shape}")
    return Split(name, images.astype(np.float32), labels.astype(np.int64), np.arange(len(labels), dtype=np.int64))


def bundle_arrays(
    params: VitWeights, splits: dict[str, Split], recorded: dict[str, float], name: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays of a bundle file (np.savez_compressed(path, **bundle_arrays(...)) writes it)."""
    out: dict[str, np.ndarray] = {"config": np.array(params.config.to_json())}
    if name is not None:
        out["name"] = np.array(name)
    out |= {f"weight/{k}": np.asarray(v, np.float32) for k, v in params.weights.items()}
    out |= {"a_scales": np.asarray(params.a_scales, np.float64), "b_scales": np.asarray(params.b_scales, np.float64)}
    for key, s in splits.items():
        floating = np.issubdtype(s.images.dtype, np.floating)
        out |= {f"{key}_images": s.images.astype(np.float32 if floating else np.uint8),
                f"{key}_labels": s.labels.astype(np.int32 if floating else np.uint8),
                f"{key}_index": s.index.astype(np.int32 if floating else np.int16)}  # fmt: skip
    out |= {f"recorded/{k}": np.array(float(v)) for k, v in recorded.items()}
    return out
