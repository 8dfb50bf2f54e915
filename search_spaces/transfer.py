"""Search space of ``transfer``: class-split transfer (report 002) and ImageNet backbones with
a new head (report 003 part 2); see trainables/transfer.py for the two modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import BACKBONES
from core.settings import OneOf, Settings
from search_spaces.common import Point

MODES = ("split_classes", "pretrained")
#: Where a pretrained backbone's weights come from (see ``trainables.transfer``).
WEIGHTS = ("imagenet", "auto", "none")


@dataclass(frozen=True, kw_only=True)
class TransferMode(Settings):
    """Which of the two ways a ``transfer`` trial runs."""

    mode: Annotated[str, OneOf(MODES)]


@dataclass(frozen=True, kw_only=True)
class TransferSettings(Settings):
    """What both modes read."""

    lr: float
    batch_size: int
    augment: str


@dataclass(frozen=True, kw_only=True)
class SplitClassesSettings(TransferSettings):
    """``mode=split_classes`` (``trainables.transfer.SplitClassesTask``)."""

    a_epochs: int
    n_frozen: int


@dataclass(frozen=True, kw_only=True)
class PretrainedSettings(TransferSettings):
    """``mode=pretrained`` (``trainables.transfer.PretrainedTask``)."""

    backbone: Annotated[str, OneOf(BACKBONES)]
    head_units: int
    momentum: float
    decay: float
    max_epochs: int
    weights: Annotated[str, OneOf(WEIGHTS)] = "imagenet"
    #: The smallest side fed to a backbone.
    min_size: int = 32
    #: Share of the epochs with the backbone frozen (report: 20 of 50).
    frozen_fraction: float = 0.4


DEFAULTS: dict[str, Any] = {**SplitClassesSettings.defaults(), **PretrainedSettings.defaults()}

#: One choice list for both modes (Optuna needs the same choices for a name in one study).
AUGMENT = ["none", "flip_crop", "flip_rotate_zoom"]
BATCH_SIZES = [16, 32, 64, 128]


def space(trial: optuna.Trial) -> None:
    """Mode, then its own knobs: epochs of net A and frozen layers, or backbone, head size,
    momentum and decay; learning rate, batch size and augmentation for both."""
    if trial.suggest_categorical("mode", list(MODES)) == "split_classes":
        trial.suggest_int("a_epochs", 1, 10)
        trial.suggest_int("n_frozen", 1, 6)
    else:
        trial.suggest_categorical("backbone", list(BACKBONES))
        trial.suggest_categorical("head_units", [256, 1024, 4096])
        trial.suggest_float("momentum", 0.5, 0.99)
        trial.suggest_float("decay", 1e-4, 1e-2, log=True)
    trial.suggest_float("lr", 1e-4, 0.1, log=True)
    trial.suggest_categorical("batch_size", BATCH_SIZES)
    trial.suggest_categorical("augment", AUGMENT)


#: Report 002 (net B: val acc 0.823): net A 10 epochs on the first five classes, its first
#: five layers frozen in net B; Adam at Keras' default 1e-3 and batch 32, no augmentation.
REPORT002: dict[str, Any] = {"mode": "split_classes", "a_epochs": 10, "n_frozen": 5,
                             "lr": 1e-3, "batch_size": 32, "augment": "none"}


def report003(trial: optuna.Trial) -> None:
    """Report 003 part 2: VGG16 / ResNet50 + Flatten, Dense 4096, out; SGD lr 0.1 (VGG) or
    0.01 (ResNet) — both offered to both — momentum 0.9, decay 0.002; with and without the
    flip / rotation / zoom augmentation."""
    trial.suggest_categorical("mode", ["pretrained"])
    trial.suggest_categorical("backbone", ["vgg16", "resnet50"])
    trial.suggest_categorical("head_units", [4096])
    trial.suggest_categorical("momentum", [0.9])
    trial.suggest_categorical("decay", [0.002])
    trial.suggest_categorical("lr", [0.1, 0.01])
    trial.suggest_categorical("batch_size", [32])
    trial.suggest_categorical("augment", ["none", "flip_rotate_zoom"])


PRESETS = {"report002": Point(REPORT002), "report003": report003}

#: Report 002's net B and report 003's best (VGG16, augmented, 0.87).
START_POINTS: list[dict[str, Any]] = [
    REPORT002,
    {"mode": "pretrained", "backbone": "vgg16", "head_units": 4096, "momentum": 0.9,
     "decay": 0.002, "lr": 0.1, "batch_size": 32, "augment": "flip_rotate_zoom"},
]
