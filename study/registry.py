"""Method name -> trainable, search-space module, objective and scheduler settings.

Adding a method is one line here (plus its trainable and search-space modules).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from study.errors import StudyError


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

    def load_trainable(self) -> Callable[[dict[str, Any], Any], None]:
        module, func = self.trainable.split(":")
        return getattr(importlib.import_module(module), func)

    def space_module(self) -> ModuleType:
        return importlib.import_module(self.space)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("vae_knn", "trainables.knn:train_vae", "search_spaces.vae_knn", "004",
           "dense / conv VAE latent means scored by k-NN"),
]}


def get(name: str) -> Method:
    """The registered method called ``name``; a StudyError naming the valid ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise StudyError(f"unknown method {name!r}; choose from: {', '.join(METHODS)}") from None
