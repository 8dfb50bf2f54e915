"""The optimiser and its learning-rate schedule, for every trainable.

Each optimiser is torch's fused implementation (one kernel over all parameters, on the CPU
too): with ResNet-18 at report 004's batch 8 on a CPU the per-parameter Adam took a third of
each step (``bench/trial_speed.py`` measures it). A checkpoint saved before the optimisers
were fused resumes on torch's default implementation: loading a state dict restores its
param groups, ``fused`` unset among them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch

#: Adam's default moment decays (report 004's DCGAN uses β1 0.5).
ADAM_BETAS = (0.9, 0.999)


def make_optimizer(params: Iterable[torch.Tensor], name: str, lr: float, *,
                   momentum: float = 0.0, weight_decay: float = 0.0,
                   betas: tuple[float, float] = ADAM_BETAS) -> torch.optim.Optimizer:
    """``sgd`` (with momentum) or ``adam`` (``weight_decay`` an L2 penalty in the gradient),
    or ``adamw`` (Adam with ``weight_decay`` decoupled: each step shrinks the weights by lr ·
    decay of themselves); torch's fused implementation of each."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               fused=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay,
                                fused=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay,
                                 fused=True)
    raise ValueError(f"unknown optimizer {name!r} (sgd, adam or adamw)")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The rate's factor after ``step`` optimiser steps: linear from 0 to 1 over ``warmup``
    steps, then half a cosine down to 0 at ``total`` (transformers'
    ``get_cosine_schedule_with_warmup``), 0 past it."""
    if step < warmup:
        return step / warmup
    done = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * done))


def make_scheduler(optimizer: torch.optim.Optimizer, name: str, total_steps: int,
                   warmup_steps: int = 0) -> torch.optim.lr_scheduler.LRScheduler:
    """The ``lr_schedule`` ``name`` over ``total_steps`` optimiser steps, stepped by a hook
    after every ``optimizer.step()`` and holding its last rate past ``total_steps``.

    ``cosine``: :func:`warmup_cosine`. ``onecycle``: torch's ``OneCycleLR`` with its defaults
    (from lr/25 up to the optimiser's lr over the first 30 % of the steps, then down to
    lr/25e4, both by cosine), the optimiser's momentum left as it is.
    """
    total_steps = max(1, total_steps)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if name == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, partial(warmup_cosine, total=total_steps, warmup=warmup_steps))
    elif name == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total_steps, cycle_momentum=False)
    else:
        raise ValueError(f"unknown lr_schedule {name!r} (cosine or onecycle)")

    def step(*_: Any) -> None:
        if scheduler.last_epoch < total_steps:
            scheduler.step()

    optimizer.register_step_post_hook(step)
    return scheduler
