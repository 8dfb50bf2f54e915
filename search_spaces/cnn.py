"""Search space of ``cnn``: the CNNs of reports 002 (CIFAR-10, MNIST) and 003 (AD vs MCI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import CNN_ARCHS
from core.settings import OneOf
from search_spaces.common import (
    OPTIMIZERS,
    REPORT_CLASSIFIER,
    ClassifierSettings,
    Preset,
    classifier_space,
)

#: How ``cnn`` splits and augments (``protocol``): ``honest`` splits first and augments the
#: training images online; ``leaky`` is report 003's own: every image plus 4 augmented
#: copies (Keras policy, ``affine``) pooled *before* the split, so copies of a test image
#: train the model (``trainables.augment.augment_offline``).
PROTOCOLS = ("honest", "leaky")


@dataclass(frozen=True, kw_only=True)
class CnnSettings(ClassifierSettings):
    """What a ``cnn`` trial reads (``trainables.cnn``); the loop reads ``split_ratio``."""

    arch: Annotated[str, OneOf(CNN_ARCHS)]
    dropout: float
    #: :data:`PROTOCOLS`: split then augment online, or report 003's augment-then-split.
    protocol: Annotated[str, OneOf(PROTOCOLS)] = "honest"
    #: The loop's re-split test fraction; read here only to check that ``leaky`` has one.
    split_ratio: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.protocol == "leaky":
            self.require("split_ratio", "with protocol=leaky (the pooled, augmented images "
                         "are split by it)")


DEFAULTS: dict[str, Any] = CnnSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = CnnSettings.choices()

#: Report 003's test fractions; sets with an official test split keep it (see Splits.resplit),
#: except under ``protocol=leaky``, which pools every image before splitting.
SPLIT_RATIOS = [0.1, 0.3, 0.5]


def space(trial: optuna.Trial) -> None:
    """Architecture, dropout, init, split ratio, optimiser, batch size, augmentation, then
    the classifier's training options (:func:`~search_spaces.common.classifier_space`).

    The all-zeros / all-ones inits stay at chance (report 003), so only the ``report003``
    preset spends trials on them.
    """
    trial.suggest_categorical("arch", list(CNN_ARCHS))
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", ["default", "glorot_uniform", "he_normal"])
    trial.suggest_categorical("split_ratio", SPLIT_RATIOS)
    trial.suggest_float("lr", 1e-4, 0.1, log=True)
    optimizer = trial.suggest_categorical("optimizer", list(OPTIMIZERS))
    if optimizer == "sgd":
        trial.suggest_float("momentum", 0.5, 0.99)
    trial.suggest_categorical("batch_size", [16, 32, 64, 128])
    trial.suggest_categorical("augment", ["none", "flip_crop", "affine"])
    classifier_space(trial, optimizer)


#: Report 002's SGD: lr 1e-3, momentum 0.9, PyTorch's default init.
REPORT002_SGD = {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "init": "default",
                 **REPORT_CLASSIFIER}
#: Report 002's CIFAR-10 CNN without dropout.
REPORT002_CIFAR = {"arch": "cifar_cnn", "dropout": 0.0, **REPORT002_SGD, "batch_size": 4,
                   "augment": "flip_crop"}
#: Report 002's MNIST CNN.
REPORT002_MNIST = {"arch": "mnist_cnn", "dropout": 0.5, **REPORT002_SGD, "batch_size": 64,
                   "augment": "none"}
#: Report 003's proposed net at its best split (0.1), Glorot uniform init (bias 0.01).
REPORT003 = {"arch": "ad_proposed", "split_ratio": 0.1, "dropout": 0.0,
             "init": "glorot_uniform", "optimizer": "adam", "lr": 1e-3, "batch_size": 64,
             "augment": "affine", **REPORT_CLASSIFIER}

#: Report 003's experiments: the split ratios, dropout, the test nets and the chance inits.
REPORT003_GRID = [{**REPORT003, "split_ratio": SPLIT_RATIOS},
                  {**REPORT003, "dropout": 0.5},
                  {**REPORT003, "arch": ["ad_test1", "ad_test2"]},
                  {**REPORT003, "init": ["zeros", "ones"]}]
REPORT003_SOURCE = (
    "report 003 (AD vs MCI, test): split 0.1 acc 0.82 F1 0.816 AUC 0.814; split 0.3 acc 0.78 "
    "F1 0.774; split 0.5 acc 0.78 F1 0.768; with dropout acc 0.80 F1 0.790; test model 1 acc "
    "0.78 F1 0.775; test model 2 acc 0.78 F1 0.771; zeros / ones init at chance; its AUC "
    "(0.814 = its macro recall) was computed from hard labels: compare test_auc_labels")
REPORT003_STUDY = {"image_size": 64, "grayscale": True, "val_fraction": 0.1, "max_epochs": 15}

PRESETS = {
    "report002_cifar": Preset(
        {**REPORT002_CIFAR, "dropout": [0.0, 0.2]},
        source="report 002: CIFAR-10 CNN accuracy 0.8216; a second model with dropout "
               "(0.2, 0.2, 0.1)",
        study={"max_epochs": 30},
        gaps="the report tested on CIFAR-10's test set after training on all of train; "
             "here 20 % of train is validation"),
    "report002_mnist": Preset(
        REPORT002_MNIST, source="report 002: MNIST CNN accuracy 0.975, weighted F1 0.975",
        study={"max_epochs": 15}),
    "report003": Preset(
        REPORT003_GRID, source=REPORT003_SOURCE, study=REPORT003_STUDY,
        gaps="honest protocol: split first, then the training images augmented online (the "
             "report augmented ×5 before splitting: report003_leaky); epochs and the dropout "
             "rate (0.5) are not printed in the report"),
    "report003_leaky": Preset(
        [{**g, "augment": "none"} for g in REPORT003_GRID],
        source=REPORT003_SOURCE + "; reproduces the report's leaky protocol: every image plus "
               "4 augmented copies pooled before the split, so copies of test images train",
        study=REPORT003_STUDY, settings={"protocol": "leaky"},
        gaps="test scores are inflated by the leak and not comparable with report003's; the "
             "×5 copies are the only augmentation (augment none, as the report trained on "
             "them); epochs and the dropout rate (0.5) are not printed in the report"),
}

#: The reports' own best configurations, evaluated first (report 002's CIFAR net at batch 16,
#: the smallest of the searched space: its batch 4 takes four times the steps).
START_POINTS: list[dict[str, Any]] = [REPORT003, REPORT002_MNIST,
                                      {**REPORT002_CIFAR, "batch_size": 16}]
