"""Method name -> trainable, search-space module, objective and scheduler settings.

Adding a method is one line here (plus its trainable and search-space modules).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from core.errors import StudyError
from core.names import CLASSIFIER_EPOCHS, SELECT_METRICS


@dataclass(frozen=True)
class Method:
    """A registered method: where its code lives and how a study optimises it."""

    name: str
    trainable: str  # "module:function"
    space: str  # search_spaces module
    report: str
    summary: str
    metric: str = "val_acc"
    mode: str = "max"
    grace_period: int = 3
    #: The result key ASHA counts its rungs in (Tune's ``time_attr``): epochs, or, where a
    #: method's score changes meaning between stages, :data:`CLASSIFIER_EPOCHS`.
    time_attr: str = "training_iteration"
    #: What its trials' ``select_epoch=best`` may maximise (``select_metric``): the objective,
    #: and ``val_auc`` where its validation reports it (the classifiers).
    select_metrics: tuple[str, ...] = SELECT_METRICS[:1]

    def objective(self, fixed: Mapping[str, Any]) -> str:
        """The study's objective, which ASHA, the searcher and the analysis rank trials on:
        the ``select_metric`` a study fixes (``--set select_metric=val_auc``), else
        :attr:`metric`, so that trials are ranked on what selects their epochs."""
        return str(fixed.get("select_metric", self.metric))

    def load_trainable(self) -> Callable[[dict[str, Any], Any], None]:
        module, func = self.trainable.split(":")
        return getattr(importlib.import_module(module), func)

    def space_module(self) -> ModuleType:
        return importlib.import_module(self.space)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("vae_knn", "trainables.knn:train_vae", "search_spaces.vae_knn", "004",
           "dense / conv VAE latent means scored by k-NN"),
    Method("pca_knn", "trainables.knn:train_pca", "search_spaces.pca_knn", "004",
           "PCA codes scored by k-NN (fitted once; same scores every epoch)", grace_period=1),
    Method("isomap_knn", "trainables.knn:train_isomap", "search_spaces.isomap_knn", "004",
           "Isomap (fitted on a subsample) codes scored by k-NN", grace_period=1),
    Method("ae_knn", "trainables.knn:train_ae", "search_spaces.ae_knn", "004",
           "dense (dropout) / conv (batch norm) autoencoder codes scored by k-NN"),
    Method("ae_classifier", "trainables.ae_classifier:train_ae_classifier",
           "search_spaces.ae_classifier", "000, 001",
           "AE pretraining, frozen-encoder head, fine-tuning", grace_period=6,
           time_attr=CLASSIFIER_EPOCHS, select_metrics=SELECT_METRICS),
    Method("cnn", "trainables.cnn:train_cnn", "search_spaces.cnn", "002, 003",
           "report CNNs × init × split ratio × optimiser × on-device augmentation",
           select_metrics=SELECT_METRICS),
    Method("transfer", "trainables.transfer:train_transfer", "search_spaces.transfer",
           "002, 003", "class-split net A -> frozen net B, or ImageNet backbone + new head",
           select_metrics=SELECT_METRICS),
    Method("medmnist_resnet", "trainables.medmnist_resnet:train_medmnist_resnet",
           "search_spaces.medmnist_resnet", "004",
           "ResNet-18 (7×7 stride-2 or 3×3 stride-1 stem), augmentation, MedMNIST's ACC/AUC",
           grace_period=5, select_metrics=SELECT_METRICS),
    Method("gan_balance", "trainables.gan_balance:train_gan_balance",
           "search_spaces.gan_balance", "004",
           "conditional DCGAN balances the minority classes, classifier retrained",
           grace_period=10, time_attr=CLASSIFIER_EPOCHS, select_metrics=SELECT_METRICS),
]}


def get(name: str) -> Method:
    """The registered method called ``name``; a StudyError naming the valid ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise StudyError(f"unknown method {name!r}; choose from: {', '.join(METHODS)}") from None
