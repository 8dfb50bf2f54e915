"""Search space of ``medmnist_resnet``: report 004's ResNet-18 on BreastMNIST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import RESNET_STEMS
from core.settings import OneOf, searched
from search_spaces.common import (
    OPTIMIZERS,
    REPORT_CLASSIFIER,
    ClassifierSettings,
    Preset,
    classifier_space,
)


@dataclass(frozen=True, kw_only=True)
class MedmnistResnetSettings(ClassifierSettings):
    """What a ``medmnist_resnet`` trial reads: report 004's classifier, trained with Adam
    where a config has no optimizer (sgd uses momentum 0.9), and its ResNet's stem (report
    004's ``imagenet`` where a config has none; ``trainables.convnets.resnet18``)."""

    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = searched("adam")
    momentum: float | None = 0.9
    stem: Annotated[str, OneOf(RESNET_STEMS)] = searched(RESNET_STEMS[0])


DEFAULTS: dict[str, Any] = MedmnistResnetSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = MedmnistResnetSettings.choices()


def space(trial: optuna.Trial) -> None:
    """Learning rate, batch size, augmentation on / off, weight init, ResNet stem,
    optimiser, then the classifier's training options
    (:func:`~search_spaces.common.classifier_space`)."""
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])
    trial.suggest_categorical("init", ["default", "glorot_uniform", "he_normal"])
    trial.suggest_categorical("stem", list(RESNET_STEMS))
    classifier_space(trial, trial.suggest_categorical("optimizer", list(OPTIMIZERS)))


#: Report 004's classifier: ResNet-18 with torchvision's stem, Adam 1e-4, batch 8, flips /
#: rotation / colour jitter / resized crop.
REPORT004: dict[str, Any] = {"lr": 1e-4, "batch_size": 8, "augment": "medmnist",
                             "init": "default", "stem": "imagenet", "optimizer": "adam",
                             **REPORT_CLASSIFIER}

#: Report 004's epochs, and how the presets select among them.
REPORT_STUDY = {"max_epochs": 50}
SELECTION_GAP = ("BreastMNIST's own validation split selects the epoch, by accuracy (MedMNIST's "
                 "experiments select by AUC: --set select_metric=val_auc; the report does not "
                 "say which epoch it tested)")

PRESETS = {
    "report004": Preset(
        REPORT004, source="report 004: BreastMNIST test accuracy 83.3 %, confusion "
                          "[[21 21] [5 109]]",
        study=REPORT_STUDY, gaps=SELECTION_GAP),
    # The baselines report 004's GAN oversampling (gan_balance --preset report004) is to be
    # judged against: the same classifier and epochs, the imbalance met in the loss or the
    # batches instead of with generated images.
    "report004_imbalance": Preset(
        [REPORT004, {**REPORT004, "class_weight": "balanced"},
         {**REPORT004, "sampler": "balanced"}],
        source="report 004's ResNet-18 on BreastMNIST (83.3 %) without balancing, with a "
               "class-weighted loss, and with balanced batches; its GAN-balanced retraining "
               "scored 78.85 %",
        study=REPORT_STUDY,
        gaps=f"not in the report, which balanced only with the GAN; {SELECTION_GAP}"),
}

#: Report 004's configuration, as the searcher's first trial.
START_POINTS: list[dict[str, Any]] = [REPORT004]
