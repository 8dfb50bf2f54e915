"""The one supervised classifier task: cross-entropy training with on-device augmentation.

``cnn`` and ``medmnist_resnet`` configure it, ``transfer`` and ``gan_balance`` extend it with
their stages. Models map float images in [0, 1] (N×C×H×W) to class logits; evaluation runs in
no-grad batches and scores are softmax probabilities.

Its training options (``ClassifierSettings``; each defaults to the reports' plain training):
the optimiser (``sgd``, ``adam``, ``adamw``), a learning-rate schedule stepped after every
optimiser step over the trial's ``max_epochs`` (both :mod:`trainables.optimizers`; the
schedule's position is part of the task's checkpoint), label smoothing and balanced class
weights in the training loss (validation loss stays plain cross-entropy), class-balanced batches
(:func:`balanced_class_weights` per row, the loop's ``train_batches``), inputs
standardised per channel by the training split's statistics (:func:`channel_stats`), after
augmentation, in every split, and weight averaging: with ``ema_decay`` the validation and the
test score an exponential moving average of the weights and batch-norm statistics, updated
after every optimiser step (torch's ``AveragedModel``, :func:`ema_update`), while training
goes on with the weights themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from search_spaces.common import ClassifierSettings
from trainables import loop
from trainables.augment import Augment, policy
from trainables.checkpoints import build, load_trained_state, model_state, trained_state
from trainables.loop import DeviceSplits
from trainables.metrics import roc_auc
from trainables.nets import init_weights
from trainables.optimizers import make_optimizer, make_scheduler

NO_AUGMENT = Augment()
#: Rows per evaluation batch (small enough for VGG16 activations on a CPU).
EVAL_BATCH = 256


def balanced_class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """scikit-learn's ``compute_class_weight("balanced")``: ``len(y) / (num_classes ·
    count)`` per class (a class absent from ``y`` counts as one row)."""
    counts = torch.bincount(y, minlength=num_classes).clamp_min(1)
    return len(y) / (num_classes * counts.float())


@torch.no_grad()
def channel_stats(data: DeviceSplits) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of the training images in [0, 1], shaped
    1×C×1×1 to standardise batches (a constant channel's deviation counts as 1)."""
    total = squares = torch.zeros(data.info.channels, device=data.device, dtype=torch.float64)
    for part in data.chunks("train"):
        x = data.images("train", part).double()
        total = total + x.sum((0, 2, 3))
        squares = squares + x.square().sum((0, 2, 3))
    count = data.x["train"].numel() // data.info.channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1)


#: ``AveragedModel``'s ``multi_avg_fn``: (averages, current values, updates so far) -> None.
AverageUpdate = Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]


def ema_update(decay: float) -> AverageUpdate:
    """The update of an exponential moving average whose decay
    warms up as TensorFlow's ``ExponentialMovingAverage(num_updates=n)`` does: after n
    updates each step moves the average by 1 - min(``decay``, (1 + n) / (10 + n)) towards
    the weights, so an early epoch's average follows its recent weights instead of the
    initial ones. Integer buffers (batch norm's step count) take the current value.
    ``AveragedModel`` calls it once per device and dtype."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor],
               updates: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            for mean, value in zip(averaged, current, strict=True):
                mean.copy_(value)
            return
        n = updates.float()  # on the device: no synchronisation per step
        weight = (1.0 - torch.clamp((1 + n) / (10 + n), max=decay)).to(averaged[0].dtype)
        for mean, value in zip(averaged, current, strict=True):
            mean.lerp_(value, weight)

    return update


def epoch_schedule(optimizer: torch.optim.Optimizer, name: str, data: DeviceSplits,
                   batch_size: int, epochs: int, warmup_epochs: int = 0
                   ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The ``lr_schedule`` ``name`` over ``epochs`` epochs of ``data``'s training split in
    batches of ``batch_size``; None for ``constant``."""
    if name == "constant":
        return None
    steps = loop.steps_per_epoch(len(data.y["train"]), batch_size)
    return make_scheduler(optimizer, name, epochs * steps, warmup_epochs * steps)


class ClassifierTask:
    """Train ``model`` (built from ``model_args``, which its checkpoint keeps) on ``data``'s
    train split (the loop's ``train_batches``), score the validation and test splits; the
    keyword options after ``augment`` are the module docstring's (their names and choices:
    ``ClassifierSettings``)."""

    def __init__(self, model: nn.Module, data: DeviceSplits, generator: torch.Generator, *,
                 model_args: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                 batch_size: int, augment: Augment = NO_AUGMENT,
                 lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                 label_smoothing: float = 0.0, class_weight: str = "none",
                 sampler: str = "uniform", normalize: str = "none",
                 ema_decay: float | None = None) -> None:
        #: The weights' moving average (``ema_decay``): a copy of ``model`` (compiled with it
        #: where the trial compiles; the copy's forward runs on its own weights).
        self.averaged = None if ema_decay is None else data.place(
            AveragedModel(model, multi_avg_fn=ema_update(ema_decay),
                          use_buffers=True), channels_last=True)
        # channels_last: oneDNN's and cuDNN's preferred conv layout (12 % faster steps of
        # report 002's CIFAR CNN on 2 CPU cores); inputs follow in :meth:`inputs`.
        self.model = data.place(model, channels_last=True)
        if self.averaged is not None:
            optimizer.register_step_post_hook(
                lambda *_: self.averaged.update_parameters(self.model))
        #: The model validation and the test score.
        self.scored: nn.Module = self.model if self.averaged is None else self.averaged
        self.model_args = model_args
        self.data, self.generator = data, generator
        self.optimizer, self.batch_size, self.augment = optimizer, batch_size, augment
        self.lr_scheduler, self.label_smoothing = lr_scheduler, label_smoothing
        balanced = balanced_class_weights(data.y["train"], data.info.num_classes)
        self.class_weights = balanced if class_weight == "balanced" else None
        #: Per training row (CPU), for class-balanced batches.
        self.sample_weights = (balanced.cpu()[data.y["train"].cpu()] if sampler == "balanced"
                               else None)
        self.standardize = channel_stats(data) if normalize == "dataset" else None

    @classmethod
    def from_settings(cls, model_args: Mapping[str, Any], data: DeviceSplits,
                      generator: torch.Generator, settings: ClassifierSettings
                      ) -> ClassifierTask:
        """The model ``model_args`` describe, initialised and trained as ``settings`` say."""
        model = init_weights(build(model_args), settings.init)
        optimizer = make_optimizer(model.parameters(), settings.optimizer, settings.lr,
                                   momentum=settings.momentum or 0.0,
                                   weight_decay=settings.weight_decay)
        scheduler = epoch_schedule(optimizer, settings.lr_schedule, data, settings.batch_size,
                                   settings.max_epochs or 0, settings.warmup_epochs)
        return cls(model, data, generator, model_args=model_args, optimizer=optimizer,
                   batch_size=settings.batch_size, augment=policy(settings.augment),
                   lr_scheduler=scheduler, label_smoothing=settings.label_smoothing,
                   class_weight=settings.class_weight, sampler=settings.sampler,
                   normalize=settings.normalize,
                   ema_decay=settings.averaging_decay)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        hits = torch.zeros((), device=self.data.device, dtype=torch.long)
        seen = 0

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            nonlocal hits, seen
            logits = self.model(self.inputs(self.augment(self.data.images("train", idx),
                                                         self.generator)))
            y = self.data.y["train"][idx]
            hits = hits + (logits.detach().argmax(1) == y).sum()
            seen += len(idx)
            return F.cross_entropy(logits, y, weight=self.class_weights,
                                   label_smoothing=self.label_smoothing)

        loss = loop.train_batches(self.data, self.batch_size, self.generator, self.optimizer,
                                  batch_loss, weights=self.sample_weights)
        return {"train_loss": loss, "train_acc": hits.item() / max(seen, 1)}

    @torch.no_grad()
    def logits(self, part: str) -> torch.Tensor:
        """Logits of a whole split in evaluation batches, by the scored model."""
        self.scored.eval()
        with self.data.autocast():
            logits = [self.scored(self.inputs(self.data.images(part, s)))
                      for s in self.data.chunks(part, EVAL_BATCH)]
        return torch.cat(logits).float()

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """A batch as the model takes it: standardised (``normalize=dataset``), in the
        model's memory layout (channels_last)."""
        if self.standardize is not None:
            mean, std = self.standardize
            images = (images - mean) / std
        return images.contiguous(memory_format=torch.channels_last)

    def validate(self) -> dict[str, float]:
        """Validation loss, accuracy and ROC AUC (``trainables.metrics.roc_auc``: NaN where
        a class is missing from the split)."""
        logits, y = self.logits("val"), self.data.y["val"]
        return {"val_loss": F.cross_entropy(logits, y).item(),
                "val_acc": (logits.argmax(1) == y).float().mean().item(),
                "val_auc": roc_auc(y.cpu().numpy(), torch.softmax(logits, 1).cpu().numpy())}

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        return {}, torch.softmax(self.logits("test"), 1).cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        """The trained model and its optimiser (``model``: what training goes on from), the
        schedule's position and the scored average (:meth:`averaged_state`)."""
        state = trained_state(self.model, self.model_args, self.optimizer)
        if self.lr_scheduler is not None:
            state["lr_scheduler"] = self.lr_scheduler.state_dict()
        return {**state, **self.averaged_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_trained_state(state, self.model, self.optimizer)
        if self.lr_scheduler is not None:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.load_averaged_state(state)

    def averaged_state(self) -> dict[str, Any]:
        """The scored average as a model of its own (``averaged``; in a checkpoint of this
        task, ``checkpoints.load_model(path, "averaged")`` rebuilds it) and its step count;
        empty without averaging."""
        if self.averaged is None:
            return {}
        return {**model_state(self.averaged.module, self.model_args, "averaged"),
                "averaged_steps": self.averaged.n_averaged.clone()}

    def load_averaged_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`averaged_state` saved (nothing without averaging)."""
        if self.averaged is not None:
            self.averaged.module.load_state_dict(state["averaged"])
            self.averaged.n_averaged.copy_(state["averaged_steps"])
