"""The `Splits` type every dataset loader returns, and the seeded stratified splitting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class DatasetInfo:
    """What a trainable needs to know about a dataset besides its arrays."""

    name: str
    classes: tuple[str, ...]
    channels: int
    size: tuple[int, int]
    official_test: bool

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image shape as C×H×W."""
        return (self.channels, *self.size)


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays: images uint8 N×C×H×W, labels int64 N."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DatasetInfo

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != self.info.shape:
                raise ValueError(f"x_{part} must be uint8 N×{'×'.join(map(str, self.info.shape))}, "
                                 f"got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"y_{part} must be int64 of length {len(x)}, "
                                 f"got {y.dtype} {y.shape}")

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def fewer_train(self, fraction: float, seed: int) -> Splits:
        """A seeded, stratified ``fraction`` of the training images; validation and test
        unchanged (a quick budget on a large set)."""
        if fraction >= 1.0:
            return self
        _, _, x_train, y_train = carve(self.x_train, self.y_train, fraction, seed)
        return replace(self, x_train=x_train, y_train=y_train)

    def resplit(self, test_fraction: float, val_fraction: float, seed: int) -> Splits:
        """Split all images again with another test fraction (the reports' "split ratio").

        Only sets without an official test split can be re-split; for the others the
        official test split is kept and only the validation part is carved again.  Raises
        ValueError when the images cannot be split so (see `class_problem`).
        """
        where = (f"cannot re-split {self.info.name} with split_ratio {test_fraction} and "
                 f"val_fraction {val_fraction}")
        try:
            if self.info.official_test:
                x = np.concatenate([self.x_train, self.x_val])
                y = np.concatenate([self.y_train, self.y_val])
                splits = replace(self, **_named(carve(x, y, val_fraction, seed), "train", "val"))
            else:
                x = np.concatenate([self.x_train, self.x_val, self.x_test])
                y = np.concatenate([self.y_train, self.y_val, self.y_test])
                splits = from_pool(x, y, self.info, test_fraction, val_fraction, seed)
        except ValueError as e:  # scikit-learn: too few images for a stratified split
            raise ValueError(f"{where}: {e}") from e
        if problem := class_problem(splits):
            raise ValueError(f"{where}: {problem}")
        return splits


def class_problem(splits: Splits) -> str | None:
    """Why ``splits`` cannot make a classification study, or None.

    A study needs two classes or more, and images of every class in each split: a class
    missing from training can never be predicted, one missing from validation or test is
    never scored (and leaves ROC AUC undefined).
    """
    classes = splits.info.classes
    if len(classes) < 2:
        return f"only {len(classes)} class ({_quoted(classes)}); a study needs at least two"
    for part, label in (("train", "training"), ("val", "validation"), ("test", "test")):
        counts = np.bincount(getattr(splits, f"y_{part}"), minlength=len(classes))
        if missing := [c for c, n in zip(classes, counts, strict=False) if n == 0]:
            return (f"the {label} split has no image of class {_quoted(missing)}; every class "
                    f"needs images in each of the training, validation and test splits")
    return None


def _quoted(names: Sequence[str], most: int = 5) -> str:
    text = ", ".join(f"'{n}'" for n in names[:most])
    return text + (f" and {len(names) - most} more" if len(names) > most else "")


def carve(x: np.ndarray, y: np.ndarray, fraction: float, seed: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified split of (x, y) into (x_keep, y_keep, x_part, y_part)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    x_keep, x_part, y_keep, y_part = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=stratify)
    return x_keep, y_keep, x_part, y_part


def from_pool(x: np.ndarray, y: np.ndarray, info: DatasetInfo, test_fraction: float,
              val_fraction: float, seed: int) -> Splits:
    """Splits for a set without an official test split: test first, then validation."""
    x_rest, y_rest, x_test, y_test = carve(x, y, test_fraction, seed)
    x_train, y_train, x_val, y_val = carve(x_rest, y_rest, val_fraction, seed)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, info)


def with_official_test(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                       y_test: np.ndarray, info: DatasetInfo, val_fraction: float,
                       seed: int) -> Splits:
    """Splits for a set with an official test split: validation carved from train."""
    x_tr, y_tr, x_val, y_val = carve(x_train, y_train, val_fraction, seed)
    return Splits(x_tr, y_tr, x_val, y_val, x_test, y_test, info)


def _named(parts: tuple[np.ndarray, ...], keep: str, part: str) -> dict[str, np.ndarray]:
    x_keep, y_keep, x_part, y_part = parts
    return {f"x_{keep}": x_keep, f"y_{keep}": y_keep, f"x_{part}": x_part, f"y_{part}": y_part}
