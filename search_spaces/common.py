"""What several methods' spaces share: the k-NN and classifier settings, and presets.

>>> preset = Preset(grid=[{"arch": "dense", "latent_dim": [40, 80]},
...                       {"arch": "conv", "latent_dim": 30}],
...                 source="report 004", study={"max_epochs": 20})
>>> preset.points()
[{'arch': 'dense', 'latent_dim': 40}, {'arch': 'dense', 'latent_dim': 80}, \
{'arch': 'conv', 'latent_dim': 30}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import optuna

from core.names import (
    CLASS_WEIGHTS,
    INIT_SCHEMES,
    KNN_METRICS,
    KNN_SCALES,
    KNN_WEIGHTS,
    LR_SCHEDULES,
    NORMALIZATIONS,
    SAMPLERS,
    WEIGHT_AVERAGES,
)
from core.settings import OneOf, Settings, searched

#: A weight initialisation (``trainables.nets.init_weights``).
Init = Annotated[str, OneOf(INIT_SCHEMES)]
#: ``trainables.optimizers.make_optimizer``: adamw decays the weights decoupled from the
#: gradient.
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass(frozen=True)
class Preset:
    """A report's own setup, run as the report ran it: each point of its grid once per seed
    (``--repeats``), in a fixed order, FIFO: no searcher and no early stopping.

    ``grid`` maps each parameter to its values (a single value is a one-value axis); a list
    of such mappings is their union, for sub-grids with different parameters (as
    scikit-learn's ``ParameterGrid`` takes them). ``study`` holds the study options the
    report fixed (``max_epochs``, ``val_fraction``, ``image_size``, ...) and ``settings``
    the method constants it used; an explicit option or ``--set`` wins over both. ``source``
    cites the report's setup and figures; ``gaps`` says where this preset departs from the
    report or assumes what it does not print.
    """

    grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    source: str
    study: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    gaps: str = ""

    def subgrids(self) -> list[dict[str, list[Any]]]:
        """The grid as a list of mappings from parameter to its list of values."""
        grids = [self.grid] if isinstance(self.grid, Mapping) else list(self.grid)
        return [{k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in g.items()}
                for g in grids]

    def points(self) -> list[dict[str, Any]]:
        """Every configuration of the grid, sub-grid by sub-grid, in a fixed order."""
        from sklearn.model_selection import ParameterGrid

        points = []
        for grid in self.subgrids():
            order = list(grid)  # keep the declared key order (ParameterGrid sorts keys)
            points += [{k: p[k] for k in order} for p in ParameterGrid(grid)]
        return points

    def values(self) -> dict[str, list[Any]]:
        """Each parameter's values anywhere in the grid."""
        values: dict[str, list[Any]] = {}
        for grid in self.subgrids():
            for name, choices in grid.items():
                values.setdefault(name, [])
                values[name] += [c for c in choices if c not in values[name]]
        return values


#: The largest k the k-NN spaces sample (report 004 printed k up to 97).
MAX_NEIGHBORS = 100
#: Report 004's k: those of its tables (5 .. 50) and of its printed best points (31 for PCA;
#: 45, 51 and 85 for Isomap; 97 the largest it printed).
REPORT_K = (5, 10, 15, 25, 31, 35, 45, 50, 51, 85, 97)


#: The k-NN options a space samples (``trainables.neighbors``) and their choices.
KNN_OPTIONS: dict[str, tuple[str, ...]] = {
    "knn_metric": KNN_METRICS, "knn_weights": KNN_WEIGHTS, "knn_scale": KNN_SCALES}
#: Report 004's k-NN: euclidean, uniform votes, codes as they are (each option's first).
REPORT_KNN: dict[str, str] = {name: names[0] for name, names in KNN_OPTIONS.items()}


@dataclass(frozen=True, kw_only=True)
class KnnSettings(Settings):
    """Latent codes scored by k-NN (``trainables.knn``): the objective's k, the k-NN
    options (report 004's where a config has none) and the largest k of the report's grid
    (``val_acc@k``)."""

    n_neighbors: int
    knn_metric: Annotated[str, OneOf(KNN_METRICS)] = searched(REPORT_KNN["knn_metric"])
    knn_weights: Annotated[str, OneOf(KNN_WEIGHTS)] = searched(REPORT_KNN["knn_weights"])
    knn_scale: Annotated[str, OneOf(KNN_SCALES)] = searched(REPORT_KNN["knn_scale"])
    k_max: int = MAX_NEIGHBORS


def knn_space(trial: optuna.Trial, options: Sequence[str] = tuple(KNN_OPTIONS)) -> None:
    """The k-NN ``options``, each a categorical parameter of its choices."""
    for name in options:
        trial.suggest_categorical(name, list(KNN_OPTIONS[name]))


#: The classifier's categorical training options (``core.names``) and their choices.
CLASSIFIER_OPTIONS: dict[str, tuple[str, ...]] = {
    "lr_schedule": LR_SCHEDULES, "class_weight": CLASS_WEIGHTS, "sampler": SAMPLERS,
    "normalize": NORMALIZATIONS, "weight_average": WEIGHT_AVERAGES}
#: The reports' classifier training: a constant rate, plain cross-entropy, uniform batches,
#: images in [0, 1], the trained weights tested as they are (each option's first choice).
REPORT_CLASSIFIER: dict[str, Any] = {
    **{name: names[0] for name, names in CLASSIFIER_OPTIONS.items()}, "label_smoothing": 0.0}


#: ``ema_decay`` where a config has none: an average over about the last 100 steps.
EMA_DECAY = 0.99


@dataclass(frozen=True, kw_only=True)
class WeightAverageSettings(Settings):
    """Which weights a classifier scores (``trainables.classify``): the trained ones
    (``weight_average=none``, the reports') or their exponential moving average (``ema``)."""

    weight_average: Annotated[str, OneOf(WEIGHT_AVERAGES)] = searched(
        REPORT_CLASSIFIER["weight_average"])
    #: The average's weight on its past per optimiser step (``weight_average=ema`` only).
    ema_decay: float = searched(EMA_DECAY)

    @property
    def averaging_decay(self) -> float | None:
        """The EMA's decay, None when the trained weights are scored."""
        return self.ema_decay if self.weight_average == "ema" else None

    def __post_init__(self) -> None:
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"{type(self).__name__}: ema_decay must be in (0, 1), "
                             f"got {self.ema_decay}")


def weight_average_space(trial: optuna.Trial) -> None:
    """Weight averaging, and the EMA's decay where it averages."""
    if trial.suggest_categorical("weight_average", list(WEIGHT_AVERAGES)) == "ema":
        trial.suggest_float("ema_decay", 0.9, 0.999)


@dataclass(frozen=True, kw_only=True)
class ClassifierSettings(WeightAverageSettings):
    """The one classifier task (``trainables.classify``): init, optimiser and its training;
    the options :func:`classifier_space` samples are the reports' where a config has none."""

    init: Init
    optimizer: Annotated[str, OneOf(OPTIMIZERS)]
    lr: float
    momentum: float | None = None
    #: L2 penalty (sgd, adam) or decoupled decay (adamw).
    weight_decay: float = searched(0.0)
    batch_size: int
    augment: str
    lr_schedule: Annotated[str, OneOf(LR_SCHEDULES)] = searched(
        REPORT_CLASSIFIER["lr_schedule"])
    #: Epochs of linear warm-up before the cosine schedule (``lr_schedule=cosine`` only).
    warmup_epochs: int = searched(0)
    #: Label smoothing of the training loss (validation stays plain cross-entropy).
    label_smoothing: float = searched(REPORT_CLASSIFIER["label_smoothing"])
    class_weight: Annotated[str, OneOf(CLASS_WEIGHTS)] = searched(
        REPORT_CLASSIFIER["class_weight"])
    sampler: Annotated[str, OneOf(SAMPLERS)] = searched(REPORT_CLASSIFIER["sampler"])
    normalize: Annotated[str, OneOf(NORMALIZATIONS)] = searched(REPORT_CLASSIFIER["normalize"])
    #: The loop's epochs, which a learning-rate schedule spans.
    max_epochs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be in [0, 1), "
                             f"got {self.label_smoothing}")
        if self.optimizer == "sgd":
            self.require("momentum", "with optimizer=sgd")
        if self.lr_schedule != "constant":
            self.require("max_epochs", f"with lr_schedule={self.lr_schedule}")


def classifier_space(trial: optuna.Trial, optimizer: str) -> None:
    """The classifier's training options, after the rest of a space (``optimizer``: the one
    it sampled): adamw's weight decay, the schedule (cosine's warm-up), label smoothing,
    class weights, the batch sampler, input normalisation and weight averaging (the EMA's
    decay)."""
    if optimizer == "adamw":
        trial.suggest_float("weight_decay", 1e-4, 0.3, log=True)
    if trial.suggest_categorical("lr_schedule", list(LR_SCHEDULES)) == "cosine":
        trial.suggest_int("warmup_epochs", 0, 3)
    trial.suggest_float("label_smoothing", 0.0, 0.2)
    for name in ("class_weight", "sampler", "normalize"):
        trial.suggest_categorical(name, list(CLASSIFIER_OPTIONS[name]))
    weight_average_space(trial)
