"""Search space of ``gan_balance``: conditional DCGAN balancing + retrained classifier
(report 004, BreastMNIST); see trainables/gan_balance.py for the stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.settings import OneOf
from search_spaces.common import Init, Point
from search_spaces.medmnist_resnet import MedmnistResnetSettings

#: The classifier: report 004's ResNet-18, or report 002's MNIST CNN (cheaper).
ARCHS = ("resnet18", "mnist_cnn")


@dataclass(frozen=True, kw_only=True)
class GanBalanceSettings(MedmnistResnetSettings):
    """What a ``gan_balance`` trial reads: the DCGAN stage, then ``medmnist_resnet``'s
    classifier training (any ``arch``) on the balanced split."""

    gan_fraction: float
    balance_ratio: float
    gan_lr: float
    gan_features: int
    z_dim: int
    gan_batch_size: int
    arch: Annotated[str, OneOf(ARCHS)]
    dropout: float | None = None
    init: Init = "default"
    max_epochs: int
    #: Fraction kept of each upper-half class in the training split (1 = untouched).
    imbalance: float = 1.0
    #: Generated images per class in samples.png.
    grid_columns: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch != "resnet18":
            self.require("dropout", f"with arch={self.arch}")


DEFAULTS: dict[str, Any] = GanBalanceSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """GAN stage length, balancing ratio and DCGAN knobs; classifier and its training."""
    trial.suggest_float("gan_fraction", 0.2, 0.6)
    trial.suggest_float("balance_ratio", 0.5, 1.0)
    trial.suggest_float("gan_lr", 5e-5, 1e-3, log=True)
    trial.suggest_categorical("gan_features", [16, 32, 64])
    trial.suggest_categorical("z_dim", [32, 64, 100])
    trial.suggest_categorical("gan_batch_size", [32, 64, 128])
    if trial.suggest_categorical("arch", list(ARCHS)) == "mnist_cnn":
        trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])


#: Report 004 (balanced BreastMNIST: test acc 78.85 %): DCGAN (Adam 2e-4, 64 features, z 100,
#: batch 128) balancing the classes to the majority count, ResNet-18 retrained with Adam 1e-4,
#: batch 8, augmentation. The report does not say how long the GAN trained; half of the
#: epochs here.
REPORT004: dict[str, Any] = {
    "gan_fraction": 0.5, "balance_ratio": 1.0, "gan_lr": 2e-4, "gan_features": 64,
    "z_dim": 100, "gan_batch_size": 128, "arch": "resnet18", "lr": 1e-4, "batch_size": 8,
    "augment": "medmnist"}

PRESETS = {"report004": Point(REPORT004)}

#: Report 004's setup, as the searcher's first trial.
START_POINTS: list[dict[str, Any]] = [REPORT004]
