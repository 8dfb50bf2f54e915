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

from core.names import INIT_SCHEMES
from core.settings import OneOf, Settings

#: A weight initialisation (``trainables.nets.init_weights``).
Init = Annotated[str, OneOf(INIT_SCHEMES)]
OPTIMIZERS = ("sgd", "adam")


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


@dataclass(frozen=True, kw_only=True)
class KnnSettings(Settings):
    """Latent codes scored by k-NN (``trainables.knn``): the objective's k and the largest
    k of the report's grid (``val_acc@k``)."""

    n_neighbors: int
    k_max: int = MAX_NEIGHBORS


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
