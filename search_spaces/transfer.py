"""Search space of ``transfer``: class-split transfer (report 002) and ImageNet backbones with
a new head (report 003 part 2); see trainables/transfer.py for the two modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import BACKBONES
from core.settings import OneOf, Settings
from search_spaces.common import Preset

MODES = ("split_classes", "pretrained")
#: Report 003's Keras ``ExponentialDecay(lr, decay_steps=1e5, decay_rate=0.002)``.
REPORT_DECAY_STEPS = 1e5
#: What the space samples ``decay_steps`` from (log-uniform), with ``decay`` at the report's
#: 0.002: the rate falls 500× every ``decay_steps`` optimiser steps, so over a run of ``S``
#: steps by ``0.002 ** (S / decay_steps)``. Report 003's own run (about 5 steps an epoch,
#: 50 epochs: S ≈ 250) decays by 1.5 % at 1e5 and by 79 % at 1e3; a CIFAR-sized run
#: (S ≈ 20,000) by 71 % at 1e5 and to nothing at 1e3. The range spans "hardly any decay"
#: to "most of the run at a far smaller rate" for runs of a few hundred to tens of
#: thousands of steps.
DECAY_STEPS_RANGE = (1e3, 1e7)
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
    max_epochs: int
    #: Keras' ``ExponentialDecay``: the rate is ``lr · decay ** (step / decay_steps)`` after
    #: ``step`` optimiser steps (report 003: ``decay_rate`` 0.002, ``decay_steps`` 1e5).
    decay: float = 0.002
    #: Searched (see :func:`space`); None, in a config without it: the report's 1e5.
    decay_steps: float | None = None
    weights: Annotated[str, OneOf(WEIGHTS)] = "imagenet"
    #: The smallest side fed to a backbone.
    min_size: int = 32
    #: Share of the epochs with the backbone frozen (report: 20 of 50).
    frozen_fraction: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"PretrainedSettings: decay must be in (0, 1], got {self.decay}")
        if self.decay_steps is not None and self.decay_steps <= 0:
            raise ValueError(f"PretrainedSettings: decay_steps must be positive, "
                             f"got {self.decay_steps}")

    @property
    def lr_decay_steps(self) -> float:
        """``decay_steps``, or the report's 1e5 when the config has none."""
        return REPORT_DECAY_STEPS if self.decay_steps is None else self.decay_steps


DEFAULTS: dict[str, Any] = {**SplitClassesSettings.defaults(), **PretrainedSettings.defaults()}
CHOICES: dict[str, tuple[str, ...]] = {**SplitClassesSettings.choices(),
                                       **PretrainedSettings.choices()}

#: One choice list for both modes (Optuna needs the same choices for a name in one study).
AUGMENT = ["none", "flip_crop", "flip_rotate_zoom"]
BATCH_SIZES = [16, 32, 64, 128]


def space(trial: optuna.Trial) -> None:
    """Mode, then its own knobs: epochs of net A and frozen layers, or backbone, head size,
    momentum and the decay's ``decay_steps`` (:data:`DECAY_STEPS_RANGE`; ``decay`` stays the
    report's 0.002: only ``decay ** (1 / decay_steps)`` matters, so one of the two is
    searched); learning rate, batch size and augmentation for both."""
    if trial.suggest_categorical("mode", list(MODES)) == "split_classes":
        trial.suggest_int("a_epochs", 1, 10)
        trial.suggest_int("n_frozen", 1, 6)
    else:
        trial.suggest_categorical("backbone", list(BACKBONES))
        trial.suggest_categorical("head_units", [256, 1024, 4096])
        trial.suggest_float("momentum", 0.5, 0.99)
        trial.suggest_float("decay_steps", *DECAY_STEPS_RANGE, log=True)
    trial.suggest_float("lr", 1e-4, 0.1, log=True)
    trial.suggest_categorical("batch_size", BATCH_SIZES)
    trial.suggest_categorical("augment", AUGMENT)


#: Report 002's transfer: net A 10 epochs on the first five classes, its first five layers
#: frozen in net B; Adam at Keras' default 1e-3, no augmentation. Batch 200: the report had
#: about 100-125 batches an epoch (200 on 20,000 training images gives 100).
REPORT002: dict[str, Any] = {"mode": "split_classes", "a_epochs": 10, "n_frozen": 5,
                             "lr": 1e-3, "batch_size": 200, "augment": "none"}
#: Report 003 part 2's VGG16 (lr 0.1; ResNet50 used 0.01): Flatten, Dense 4096, out; SGD
#: momentum 0.9 with Keras' ExponentialDecay (rate 0.002 per 1e5 steps), batch 128, no
#: augmentation.
REPORT003_VGG: dict[str, Any] = {
    "mode": "pretrained", "backbone": "vgg16", "head_units": 4096, "momentum": 0.9,
    "decay_steps": REPORT_DECAY_STEPS, "lr": 0.1, "batch_size": 128, "augment": "none"}

PRESETS = {
    "report002": Preset(
        REPORT002, source="report 002: net A val acc 0.745 (10 epochs); net B val acc 0.823 "
                          "after 10 epochs",
        study={"max_epochs": 10}),
    "report003": Preset(
        [{**REPORT003_VGG, "augment": ["none", "flip_rotate_zoom"]},
         {**REPORT003_VGG, "backbone": "resnet50", "lr": 0.01,
          "augment": ["none", "flip_rotate_zoom"]}],
        source="report 003 part 2 (cats vs dogs, test): VGG16 0.86 (its results table: "
               "0.899) not augmented, 0.87 augmented; ResNet50 0.50-0.695",
        study={"image_size": 224, "max_epochs": 50},
        settings={"decay": 0.002, "frozen_fraction": 0.4},
        gaps="the report augmented x50 offline; here augmentation runs on the fly. Its "
             "decay is read as Keras' ExponentialDecay(lr, decay_steps=1e5, "
             "decay_rate=0.002), stepped per optimiser step and not reset when phase 2 "
             "starts (the report recompiled the model; whether its optimiser's step count "
             "restarted is not printed: over about 250 steps the rate falls 1.5 % either "
             "way). Phase 2 trains the backbone's last four Keras layers (VGG16: "
             "block5_conv1-3 + pool; ResNet50: conv5_block3_3_conv + _bn), as the report's "
             "layers[-4:]."),
}

#: Report 003's VGG16 (not augmented) and report 002's net B (at batch 128, the searched
#: space's largest): the pretrained point first, as split_classes needs at least 4 classes
#: and report 003's data has 2.
START_POINTS: list[dict[str, Any]] = [REPORT003_VGG, {**REPORT002, "batch_size": 128}]
