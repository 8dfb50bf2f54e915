"""A trial's checkpoint file, and models rebuilt from it.

The loop saves ``{"epoch", "task", "generator", "info"}``; ``task`` is the task's
``state_dict()``, which keeps each model's weights under a name and its constructor arguments
under that name + ``_args`` (``model`` and ``model_args``, as nanoGPT's checkpoints), so
anything can rebuild the model without repeating its constructor call. With ``select_epoch``
(``trainables.selection.EpochSelector``) the final checkpoint's ``task`` is the selected epoch's
state and ``selected_epoch`` names that epoch (``epoch`` stays the last one); an intermediate
checkpoint also keeps the best epoch so far under ``best`` (``epoch``, ``value`` and, unless
it is the checkpoint's own epoch, that epoch's ``task`` state), so a restored trial still
selects among all its epochs.

>>> from trainables.nets import Autoencoder
>>> args = model_args(Autoencoder, in_shape=(1, 8, 8), arch="dense", latent_dim=4,
...                   variational=True)
>>> build(args).latent_dim
4
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

#: Where model constructors may come from (a checkpoint names its model's constructor).
PACKAGE = "trainables"


def model_args(factory: Callable[..., nn.Module], **kwargs: Any) -> dict[str, Any]:
    """A model's constructor (a class or function of this package) and its keyword
    arguments, as a checkpoint stores them (plain values only)."""
    return {"factory": f"{factory.__module__}:{factory.__qualname__}", "kwargs": kwargs}


def build(args: Mapping[str, Any], **extra: Any) -> nn.Module:
    """The model ``args`` describe, freshly initialised; ``extra`` keyword arguments are
    passed on but not stored (ImageNet weights to start from, a shared module)."""
    module, _, name = str(args["factory"]).partition(":")
    if module.split(".")[0] != PACKAGE:
        raise ValueError(f"model factory {args['factory']!r} is not in {PACKAGE}/")
    factory: Any = importlib.import_module(module)
    for part in name.split("."):
        factory = getattr(factory, part)
    return factory(**args["kwargs"], **extra)


def model_state(model: nn.Module, args: Mapping[str, Any], name: str = "model"
                ) -> dict[str, Any]:
    """A model's entries in its task's state: the weights under ``name``, the constructor
    arguments (:func:`model_args`) under ``name`` + ``_args``."""
    return {name: model.state_dict(), f"{name}_args": args}


def trained_state(model: nn.Module, args: Mapping[str, Any],
                  optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The state of a task training one model with one optimiser."""
    return {**model_state(model, args), "optimizer": optimizer.state_dict()}


def load_trained_state(state: Mapping[str, Any], model: nn.Module,
                       optimizer: torch.optim.Optimizer) -> None:
    """Restore what :func:`trained_state` returned."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])


def save(path: str | os.PathLike, *, epoch: int, task: Mapping[str, Any],
         generator: torch.Generator, info: Mapping[str, Any], **extra: Any) -> None:
    """Write the loop's checkpoint file; ``extra`` entries (plain values and tensors:
    ``selected_epoch``, ``best``) are saved beside the four the file always holds."""
    torch.save({"epoch": epoch, "task": task, "generator": generator.get_state(),
                "info": dict(info), **extra}, path)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file onto the CPU (tensors and plain values only, where it can)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # older torch pickles (e.g. numpy RNG state)
        return torch.load(path, map_location="cpu", weights_only=False)


def load_model(path: str | os.PathLike, name: str = "model") -> nn.Module:
    """The task's model ``name`` of a checkpoint file, rebuilt with its weights (CPU, eval).

    ValueError for a checkpoint written before models were stored with their arguments.
    """
    task = load(path)["task"]
    if f"{name}_args" not in task:
        raise ValueError(f"{os.fspath(path)} holds no {name}_args (written by an older "
                         f"version; its model cannot be rebuilt)")
    model = build(task[f"{name}_args"])
    model.load_state_dict(task[name])
    return model.eval()
