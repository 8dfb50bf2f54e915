"""``transfer`` (reports 002 and 003): two ways of reusing a trained network.

``mode=split_classes`` (report 002): the classes are split into halves (0..k/2-1 and the
rest). Net A is trained on the first half for ``a_epochs`` epochs, all inside the loop's
epoch 1; net B = A's first ``n_frozen`` layers (Keras-style layer count: conv, pool, conv, pool,
flatten, dense 256), frozen, + Dense 128 ReLU + Dense out, trained on the second half for the
loop's ``max_epochs``. Validation and **test metrics are those of task B**: the study's splits
are restricted to the second half's classes, relabelled 0..k-1, before the loop sees them, so
``val_acc``, ``test_*`` and ``predictions.npz`` all refer to those classes. Net A's last
validation accuracy is reported in epoch 1 as ``a_val_acc``. Needs at least 4 classes.

``mode=pretrained`` (report 003 part 2): a torchvision VGG16 / ResNet50 / ResNet18 without
its top + Flatten, Dense ``head_units`` ReLU, Dense classes (:class:`PretrainedNet`), SGD with
momentum and the report's Keras ``ExponentialDecay(lr, decay_steps, decay_rate)``: after
``t`` optimiser steps the rate is ``lr · decay ** (t / decay_steps)`` (report: ``decay``
0.002, ``decay_steps`` 1e5, continuous, not staircase), torch's ``ExponentialLR`` with
``gamma = decay ** (1 / decay_steps)`` stepped after every optimiser step, through both
phases (:func:`report_decay`; each epoch reports the rate it ended at as ``scheduled_lr``).
The space searches ``decay_steps`` at the report's ``decay`` (a study started before this
schedule sampled ``decay`` as ``lr·exp(-decay·steps)``; resumed, its ``decay`` is read as
the rate per 1e5 steps). Phase 1 (backbone frozen) lasts the first
``max(1, round(frozen_fraction · max_epochs))`` epochs (report: 20 of 50, 0.4), phase 2
makes the report's Keras ``layers[-4:]`` of the backbone trainable for the rest
(:data:`~trainables.convnets.REPORT_UNFROZEN`: VGG16's block 5 convs, ResNet50's last
``conv3`` + ``bn3``). ``weights``: ``imagenet`` loads ImageNet weights from
torchvision's cache (``torch.hub.get_dir()/checkpoints``), downloading them only if that
works, else the trial fails with a one-line message (the default: a report-003 study never
silently runs without ImageNet weights); ``none`` trains from scratch (random, frozen
backbone in phase 1); ``auto`` uses the cached weights when present and otherwise runs as
``none`` with a warning. ``imagenet_weights`` (1/0) in the final result
says which happened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.error import URLError

import numpy as np
import torch
import torchvision
from torch import nn

from core.errors import StudyError
from core.splits import Splits
from search_spaces.transfer import PretrainedSettings, SplitClassesSettings, TransferMode
from trainables import loop
from trainables.augment import policy
from trainables.checkpoints import build, model_args
from trainables.classify import ClassifierTask
from trainables.convnets import PretrainedNet, ReportCNN
from trainables.loop import DeviceSplits
from trainables.optimizers import make_optimizer

logger = logging.getLogger(__name__)

WEIGHTS: dict[str, torchvision.models.WeightsEnum] = {
    "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
}
#: Report 002: net B adds Dense 128 ReLU before its output.
HEAD_B_UNITS = 128


# --- split_classes (report 002) -----------------------------------------------------------

def class_subset(splits: Splits, classes: Sequence[int]) -> Splits:
    """The images of ``classes`` only, relabelled 0..len(classes)-1 in that order."""
    lookup = np.full(splits.info.num_classes, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    parts: dict[str, np.ndarray] = {}
    for part in ("train", "val", "test"):
        x, y = getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")
        keep = lookup[y] >= 0
        parts[f"x_{part}"], parts[f"y_{part}"] = x[keep], lookup[y[keep]]
    info = replace(splits.info, classes=tuple(splits.info.classes[c] for c in classes))
    return Splits(**parts, info=info)


def class_halves(splits: Splits) -> tuple[Splits, Splits]:
    """Task A (the first half of the classes) and task B (the rest), each relabelled."""
    k = splits.info.num_classes
    if k < 4:
        raise StudyError(f"transfer mode=split_classes needs at least 4 classes; "
                         f"{splits.info.name} has {k} (use mode=pretrained)")
    return class_subset(splits, range(k // 2)), class_subset(splits, range(k // 2, k))


def net_b(in_shape: Sequence[int], a_classes: int, n_frozen: int, num_classes: int,
          net_a: nn.Sequential | None = None) -> nn.Sequential:
    """Net B: the first ``n_frozen`` layers of net A (the trial's ``net_a``, or a fresh one
    for ``a_classes`` classes when rebuilt from a checkpoint), then a new head."""
    if net_a is None:
        net_a = ReportCNN("net_a", in_shape, a_classes)
    frozen = nn.Sequential(*list(net_a)[:n_frozen])  # A's own layers
    with torch.no_grad():
        device = next(net_a.parameters()).device
        flat = frozen(torch.zeros(1, *in_shape, device=device)).numel()
    head = nn.Sequential(nn.Flatten(), nn.Linear(flat, HEAD_B_UNITS), nn.ReLU(),
                         nn.Linear(HEAD_B_UNITS, num_classes))
    return nn.Sequential(frozen, head)


class SplitClassesTask(ClassifierTask):
    """Net B on task B, after net A is trained on task A (``first``) in epoch 1."""

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator,
                 *, first: Splits) -> None:
        s = self.settings = SplitClassesSettings.from_config(config)
        augment = policy(s.augment)
        a_args = model_args(ReportCNN, arch="net_a", in_shape=first.info.shape,
                            num_classes=first.info.num_classes)
        net_a = build(a_args)
        self.task_a = ClassifierTask(
            net_a, DeviceSplits.from_splits(first, data.device, data.accel), generator,
            model_args=a_args, optimizer=make_optimizer(net_a.parameters(), "adam", s.lr),
            batch_size=s.batch_size, augment=augment)
        b_args = model_args(net_b, in_shape=first.info.shape, a_classes=first.info.num_classes,
                            n_frozen=s.n_frozen, num_classes=data.info.num_classes)
        model = build(b_args, net_a=net_a)
        self.frozen, head = model
        super().__init__(model, data, generator, model_args=b_args,
                         optimizer=make_optimizer(head.parameters(), "adam", s.lr),
                         batch_size=s.batch_size, augment=augment)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        stage_a: dict[str, float] = {}
        if epoch == 1:
            for a_epoch in range(1, self.settings.a_epochs + 1):
                stage_a["a_train_loss"] = self.task_a.train_epoch(a_epoch)["train_loss"]
            stage_a["a_val_acc"] = self.task_a.validate()["val_acc"]
        self.frozen.requires_grad_(False)  # B's optimiser holds only the head anyway
        return {**stage_a, **super().train_epoch(epoch)}


# --- pretrained (report 003 part 2) -------------------------------------------------------

def imagenet_weights(backbone: str, mode: str) -> torchvision.models.WeightsEnum | None:
    """The ImageNet weights to build ``backbone`` with (None: from scratch); see the module
    docstring for ``mode`` (imagenet, auto, none: ``PretrainedSettings`` checks it)."""
    if mode == "none":
        return None
    weights = WEIGHTS[backbone]
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if os.path.isfile(path):
        return weights
    if mode == "auto":
        logger.warning("no ImageNet weights for %s at %s; training it from scratch "
                       "(weights=auto)", backbone, path)
        return None
    try:
        weights.get_state_dict(progress=False)  # downloads into that cache when online
    except (URLError, OSError, RuntimeError) as err:
        raise StudyError(f"ImageNet weights for {backbone} are not in torchvision's cache "
                         f"({path}) and cannot be downloaded ({err}); copy the file there "
                         f"or set weights=none") from None
    return weights


def report_decay(optimizer: torch.optim.Optimizer, decay: float, decay_steps: float
                 ) -> torch.optim.lr_scheduler.ExponentialLR:
    """Keras' ``ExponentialDecay(lr, decay_steps, decay_rate=decay)`` on ``optimizer``: an
    ``ExponentialLR`` stepped by a hook after every ``optimizer.step()``, so that ``t`` steps
    in the rate is ``lr · decay ** (t / decay_steps)``.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> scheduler = report_decay(opt, 0.002, 1e5)
    >>> for _ in range(1000):
    ...     opt.step()
    >>> round(scheduler.get_last_lr()[0] / (0.1 * 0.002 ** (1000 / 1e5)), 9)
    1.0
    """
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer,
                                                       gamma=decay ** (1.0 / decay_steps))
    optimizer.register_step_post_hook(lambda *_: scheduler.step())
    return scheduler


class PretrainedTask(ClassifierTask):
    """An ImageNet backbone + new head, two phases (frozen backbone, the report's last four
    layers unfrozen), the report's exponential decay per optimiser step."""

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        s = self.settings = PretrainedSettings.from_config(config)
        weights = imagenet_weights(s.backbone, s.weights)
        args = model_args(PretrainedNet, backbone=s.backbone, in_shape=data.info.shape,
                          num_classes=data.info.num_classes, head_units=s.head_units,
                          min_size=s.min_size)
        model = build(args, weights=weights)  # the checkpoint holds the weights
        optimizer = make_optimizer(model.parameters(), "sgd", s.lr, momentum=s.momentum)
        self.scheduler = report_decay(optimizer, s.decay, s.lr_decay_steps)
        super().__init__(model, data, generator, model_args=args, optimizer=optimizer,
                         batch_size=s.batch_size, augment=policy(s.augment))
        self.net = model
        self.pretrained = weights is not None
        self.phase1_epochs = max(1, round(s.frozen_fraction * s.max_epochs))

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.net.set_phase(1 if epoch <= self.phase1_epochs else 2)
        metrics = super().train_epoch(epoch)  # the scheduler steps with the optimiser
        return {**metrics, "phase": self.net.phase,
                "scheduled_lr": self.scheduler.get_last_lr()[0]}

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        extra, scores = super().test()
        return {**extra, "imagenet_weights": float(self.pretrained)}, scores

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        gamma = self.scheduler.gamma
        self.scheduler.load_state_dict(state["scheduler"])
        # a checkpoint from before the per-step schedule holds a per-epoch gamma: go on from
        # its rate (the optimiser's) with this trial's own decay
        self.scheduler.gamma = gamma


def train_transfer(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``transfer`` (``mode`` split_classes or pretrained)."""
    if TransferMode.from_config(config).mode == "split_classes":
        first, second = class_halves(data)
        loop.run(config, second, partial(SplitClassesTask, first=first))
    else:
        loop.run(config, data, PretrainedTask)
