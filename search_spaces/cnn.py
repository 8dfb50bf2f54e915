"""Search space of ``cnn``: the CNNs of reports 002 (CIFAR-10, MNIST) and 003 (AD vs MCI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import CNN_ARCHS
from core.settings import OneOf
from search_spaces.common import OPTIMIZERS, ClassifierSettings


@dataclass(frozen=True, kw_only=True)
class CnnSettings(ClassifierSettings):
    """What a ``cnn`` trial reads (``trainables.cnn``); the loop reads ``split_ratio``."""

    arch: Annotated[str, OneOf(CNN_ARCHS)]
    dropout: float


DEFAULTS: dict[str, Any] = CnnSettings.defaults()

#: Report 003's test fractions; sets with an official test split keep it (see Splits.resplit).
SPLIT_RATIOS = [0.1, 0.3, 0.5]


def space(trial: optuna.Trial) -> None:
    """Architecture, dropout, init, split ratio, optimiser, batch size, augmentation.

    The all-zeros / all-ones inits stay at chance (report 003), so only the ``report003``
    preset spends trials on them.
    """
    trial.suggest_categorical("arch", list(CNN_ARCHS))
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", ["default", "glorot_uniform", "he_normal"])
    trial.suggest_categorical("split_ratio", SPLIT_RATIOS)
    trial.suggest_float("lr", 1e-4, 0.1, log=True)
    if trial.suggest_categorical("optimizer", list(OPTIMIZERS)) == "sgd":
        trial.suggest_float("momentum", 0.5, 0.99)
    trial.suggest_categorical("batch_size", [16, 32, 64, 128])
    trial.suggest_categorical("augment", ["none", "flip_crop", "affine"])


def _sgd(trial: optuna.Trial, batch_size: int) -> None:
    trial.suggest_categorical("optimizer", ["sgd"])
    trial.suggest_categorical("lr", [1e-3])
    trial.suggest_categorical("momentum", [0.9])
    trial.suggest_categorical("batch_size", [batch_size])
    trial.suggest_categorical("init", ["default"])


def report002_cifar(trial: optuna.Trial) -> None:
    """Report 002's CIFAR-10 CNN without and with dropout (0.2, 0.2 and 0.1 after the
    flatten): SGD 1e-3 momentum 0.9, batch 4, flip + crop augmentation."""
    trial.suggest_categorical("arch", ["cifar_cnn"])
    trial.suggest_categorical("dropout", [0.0, 0.2])
    _sgd(trial, 4)
    trial.suggest_categorical("augment", ["flip_crop"])


def report002_mnist(trial: optuna.Trial) -> None:
    """Report 002's MNIST CNN: dropout 0.5, SGD 1e-3 momentum 0.9, batch 64, no augmentation."""
    trial.suggest_categorical("arch", ["mnist_cnn"])
    trial.suggest_categorical("dropout", [0.5])
    _sgd(trial, 64)
    trial.suggest_categorical("augment", ["none"])


def report003(trial: optuna.Trial) -> None:
    """Report 003's grid: split ratio 0.1 / 0.3 / 0.5 × dropout × init (Glorot uniform with
    bias 0.01, zeros, ones) × proposed / test nets; Adam 1e-3, batch 64, augmentation."""
    trial.suggest_categorical("arch", ["ad_proposed", "ad_test1", "ad_test2"])
    trial.suggest_categorical("split_ratio", SPLIT_RATIOS)
    trial.suggest_categorical("dropout", [0.0, 0.5])
    trial.suggest_categorical("init", ["glorot_uniform", "zeros", "ones"])
    trial.suggest_categorical("optimizer", ["adam"])
    trial.suggest_categorical("lr", [1e-3])
    trial.suggest_categorical("batch_size", [64])
    trial.suggest_categorical("augment", ["affine"])


PRESETS = {"report002_cifar": report002_cifar, "report002_mnist": report002_mnist,
           "report003": report003}

#: Report 003's best (proposed net, split 0.1, Glorot uniform) and report 002's MNIST CNN.
START_POINTS: list[dict[str, Any]] = [
    {"arch": "ad_proposed", "dropout": 0.0, "init": "glorot_uniform", "split_ratio": 0.1,
     "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "augment": "affine"},
    {"arch": "mnist_cnn", "dropout": 0.5, "init": "default", "split_ratio": 0.1,
     "optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "batch_size": 64, "augment": "none"},
]
