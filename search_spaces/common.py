"""What several methods' spaces share: the k-NN and classifier settings, and one-point spaces.

>>> report = Point({"lr": 1e-3, "batch_size": 64})
>>> import optuna
>>> trial = optuna.create_study().ask()
>>> report(trial)
>>> trial.params
{'lr': 0.001, 'batch_size': 64}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import INIT_SCHEMES
from core.settings import OneOf, Settings

#: A weight initialisation (``trainables.nets.init_weights``).
Init = Annotated[str, OneOf(INIT_SCHEMES)]
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class Point:
    """A space holding one configuration (a report's own): each value is its only choice.

    A class rather than a closure: Tune pickles the space into its state for ``--resume``.
    """

    values: Mapping[str, Any]

    def __call__(self, trial: optuna.Trial) -> None:
        for name, value in self.values.items():
            trial.suggest_categorical(name, [value])


@dataclass(frozen=True, kw_only=True)
class KnnSettings(Settings):
    """Latent codes scored by k-NN (``trainables.knn``): the objective's k and the largest
    k of the report's grid (``val_acc@k``)."""

    n_neighbors: int
    k_max: int = 50


@dataclass(frozen=True, kw_only=True)
class ClassifierSettings(Settings):
    """The one classifier task (``trainables.classify``): init, optimiser and its training."""

    init: Init
    optimizer: Annotated[str, OneOf(OPTIMIZERS)]
    lr: float
    momentum: float | None = None
    weight_decay: float = 0.0
    batch_size: int
    augment: str

    def __post_init__(self) -> None:
        if self.optimizer == "sgd":
            self.require("momentum", "with optimizer=sgd")
