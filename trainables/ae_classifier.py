"""Autoencoder features for classification (reports 000 and 001), three stages in one trial.

``arch=conv`` is report 000's convolutional encoder / decoder with its Dense-128 head,
``arch=mlp`` report 001's 784-500-200-100-30 autoencoder (input size from the data, code
size ``latent_dim``) with its 30-20-15-10 classifier. A trial runs, epoch by epoch:

0. ``pretrain``: the autoencoder on reconstruction (MSE of the sigmoid output, as both
   reports), Adam ``lr``;
1. ``head``: the classifier head on the frozen encoder (evaluation mode, so batch norm keeps
   the pretraining statistics, like Keras' ``trainable=False``), Adam ``lr``;
2. ``finetune``: encoder and head end to end, Adam ``finetune_lr``.

The classification stages augment their batches (``augment``) and follow ``lr_schedule``,
each over its own epochs; pretraining keeps a constant rate on the plain images. With
``weight_average=ema`` each classification stage scores (validates and tests) the moving
average of its own steps' weights, started afresh at its first step.

Stages vs ``max_epochs``: the loop runs exactly ``max_epochs`` epochs (the study budget), so
``ae_epochs`` / ``head_epochs`` / ``finetune_epochs`` are relative stage lengths, scaled to
sum to ``max_epochs`` (largest remainder; exact when they already sum to it, e.g. report
001's 10 + 10 + 0 with ``--max-epochs 20``). The head always gets at least one epoch, so
the final model is a trained classifier and the test metrics mean something even for
``--max-epochs 1`` (which trains the head on the randomly initialised frozen encoder).
Each epoch reports ``stage`` (0, 1, 2).

Scores across stages: Tune needs the objective (``val_acc``, or ``val_auc`` with
``select_metric=val_auc``) at every epoch, and trials leave pretraining at different epochs.
During pretraining ``val_acc`` is a k-NN probe of the codes (``val_knn_acc``, also reported;
``val_auc`` scores the probe's votes): the validation images' codes classified by their
``probe_neighbors`` nearest codes of up to ``probe_samples`` seeded training images (the
project's one k-NN; conv feature maps are global-average-pooled to one value per channel
first). It shows what the head stage can build on, but it is no classifier's score, so ASHA
never compares it with one: its rungs count ``classifier_epochs`` (the registry's
``time_attr``, :data:`~core.names.CLASSIFIER_EPOCHS`), the epochs trained in the head and
fine-tuning stages, 0 while pretraining. Trials are compared after equal classification
epochs, whatever their pretraining.
``val_loss`` is the stage's own loss: reconstruction MSE while pretraining, cross-entropy
after.

``select_epoch=best`` (``trainables.selection.EpochSelector``) selects among the head and
fine-tuning epochs only (:meth:`AeClassifierTask.selectable`): a pretraining epoch's
``val_acc`` is the probe's, and its state has an untrained head.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.names import CLASSIFIER_EPOCHS
from core.splits import Splits
from search_spaces.ae_classifier import AeClassifierSettings
from trainables import loop, neighbors
from trainables.augment import policy
from trainables.checkpoints import build, model_args, model_state
from trainables.classify import ClassifierTask, epoch_schedule
from trainables.loop import DeviceSplits
from trainables.metrics import roc_auc
from trainables.nets import init_weights, mlp
from trainables.optimizers import make_optimizer

#: A max-pool of report 000's encoder is skipped once the map is smaller than this a side.
MIN_POOL = 4
#: Report 001's hidden layers (encoder; the decoder mirrors them) and classifier layers.
MLP_HIDDEN: tuple[int, ...] = (500, 200, 100)
MLP_HEAD: tuple[int, ...] = (20, 15)
#: Report 000's Dense layer between the flattened encoder output and the softmax.
CONV_HEAD = 128


def stage_plan(requested: Sequence[int], budget: int) -> tuple[int, ...]:
    """Epochs per stage: ``requested`` lengths scaled to sum to ``budget`` (largest
    remainder, ties to the earlier stage), with at least one head epoch."""
    total = sum(requested)
    shares = [r * budget / total for r in requested] if total else [0.0, float(budget), 0.0]
    plan = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(plan)), key=lambda i: plan[i] - shares[i])
    for i in by_remainder[:budget - sum(plan)]:
        plan[i] += 1
    if plan[1] == 0:
        plan[max((0, 2), key=lambda i: plan[i])] -= 1
        plan[1] = 1
    return tuple(plan)


def _conv(c_in: int, c_out: int, batchnorm: bool) -> list[nn.Module]:
    """Report 000's unit: 3×3 conv, padding same, ReLU, then batch norm (Keras order)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    return layers


class Conv000Encoder(nn.Module):
    """Report 000's encoder: conv pairs of 32, 64, 128 and 256 channels, a max-pool after the
    first two pairs while the map is at least :data:`MIN_POOL` a side (28→14→7 as in the
    report; 8→4→2 on digits, 32→16→8 on CIFAR-10). Batch norm follows every conv here (the
    report's summary lists it after most of them)."""

    PLAN: tuple[tuple[int, bool], ...] = ((32, True), (64, True), (128, False), (256, False))

    def __init__(self, in_shape: Sequence[int], *, batchnorm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size = int(in_shape[0]), (int(in_shape[1]), int(in_shape[2]))
        #: Map size before each pool taken, for the decoder's upsampling.
        self.pooled_from: list[tuple[int, int]] = []
        for c_out, pool in self.PLAN:
            layers += _conv(c_in, c_out, batchnorm) + _conv(c_out, c_out, batchnorm)
            c_in = c_out
            if pool and min(size) >= MIN_POOL:
                layers.append(nn.MaxPool2d(2))
                self.pooled_from.append(size)
                size = (size[0] // 2, size[1] // 2)
        self.net = nn.Sequential(*layers)
        self.out_shape: tuple[int, int, int] = (c_in, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Conv000Decoder(nn.Module):
    """Report 000's decoder: conv pairs of 128, 64 (upsample), 32 (upsample), a 3×3 conv to
    the image channels (logits). Nearest upsampling restores the exact pre-pool sizes, so
    odd sizes (7→3) come back whole; an upsample whose pool was skipped is skipped too."""

    def __init__(self, encoder: Conv000Encoder, out_channels: int, *, batchnorm: bool = True
                 ) -> None:
        super().__init__()
        # The encoder's last pool (after its 64 pair) is undone after the decoder's 64 pair,
        # its first pool (after the 32 pair) after the 32 pair.
        pools = encoder.pooled_from
        ups = {64: pools[1] if len(pools) > 1 else None, 32: pools[0] if pools else None}
        layers: list[nn.Module] = []
        c_in = encoder.out_shape[0]
        for c_out in (128, 64, 32):
            layers += _conv(c_in, c_out, batchnorm) + _conv(c_out, c_out, batchnorm)
            c_in = c_out
            if ups.get(c_out) is not None:
                layers.append(nn.Upsample(size=ups[c_out], mode="nearest"))
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class AeClassifierNet(nn.Module):
    """Encoder, decoder (reconstruction logits) and classifier head of report 000 (``conv``)
    or report 001 (``mlp``, code size ``latent_dim``) for any C×H×W input."""

    def __init__(self, in_shape: Sequence[int], num_classes: int, *, arch: str,
                 latent_dim: int | None = None, dropout: float = 0.0, batchnorm: bool = True
                 ) -> None:
        super().__init__()
        in_shape = tuple(int(s) for s in in_shape)
        if arch == "conv":
            encoder = Conv000Encoder(in_shape, batchnorm=batchnorm)
            self.encoder: nn.Module = encoder
            self.decoder: nn.Module = Conv000Decoder(encoder, in_shape[0], batchnorm=batchnorm)
            flat = math.prod(encoder.out_shape)
            self.head = nn.Sequential(nn.Flatten(),
                                      mlp([flat, CONV_HEAD, num_classes], dropout=dropout))
        elif arch == "mlp" and latent_dim is not None:
            n_in = math.prod(in_shape)
            self.encoder = nn.Sequential(nn.Flatten(), mlp([n_in, *MLP_HIDDEN, latent_dim]))
            self.decoder = nn.Sequential(mlp([latent_dim, *reversed(MLP_HIDDEN), n_in]),
                                         nn.Unflatten(1, in_shape))
            self.head = mlp([latent_dim, *MLP_HEAD, num_classes], dropout=dropout)
        else:
            raise ValueError(f"ae_classifier arch {arch!r}: conv, or mlp with a latent_dim")
        self.frozen = False

    def freeze_encoder(self, frozen: bool) -> None:
        """Freeze the encoder (no gradients, evaluation mode kept in training) or release it."""
        self.frozen = frozen
        self.encoder.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> AeClassifierNet:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.encoder(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits (apply sigmoid for images)."""
        return self.decoder(self.encoder(x))

    def probe_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Codes for the k-NN probe: the MLP code, or the conv map averaged per channel."""
        h = self.encoder(x)
        return h.mean(dim=(2, 3)) if h.dim() == 4 else h


class AeClassifierTask:
    """Pretrain the autoencoder, train the head on the frozen encoder, fine-tune end to end.

    The classification stages are the project's :class:`ClassifierTask` on the same net,
    one per stage for its optimiser; pretraining and the k-NN probe are this task's own.
    """

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        s = self.settings = AeClassifierSettings.from_config(config)
        self.data, self.generator = data, generator
        self.plan = stage_plan([s.ae_epochs, s.head_epochs, s.finetune_epochs], s.max_epochs)
        self.net_args = model_args(
            AeClassifierNet, in_shape=data.info.shape, num_classes=data.info.num_classes,
            arch=s.arch, latent_dim=s.latent_dim, dropout=s.dropout, batchnorm=s.batchnorm)
        self.net = data.place(init_weights(build(self.net_args), s.init))
        encoder, decoder, head = (list(m.parameters()) for m in
                                  (self.net.encoder, self.net.decoder, self.net.head))
        self.pretrain_optimizer = make_optimizer(encoder + decoder, "adam", s.lr,
                                                 weight_decay=s.weight_decay)
        self.classifiers = {1: self._classifier(head, s.lr, self.plan[1])}
        if self.plan[2]:
            self.classifiers[2] = self._classifier(encoder + head, s.finetune_lr, self.plan[2])
        n_train = len(data.y["train"])
        rng = np.random.default_rng(loop.trial_seed(config))
        size = min(s.probe_samples, n_train)
        self.probe_index = torch.from_numpy(
            np.sort(rng.choice(n_train, size=size, replace=False))).to(data.device)
        #: The k-NN probe's data: the sampled training images, all validation images.
        self.probe = replace(data, x={**data.x, "train": data.x["train"][self.probe_index]},
                             y={**data.y, "train": data.y["train"][self.probe_index]})
        self.stage = 0

    def _classifier(self, params: list[nn.Parameter], lr: float, epochs: int
                    ) -> ClassifierTask:
        """The classification stage training ``params`` of the whole net with Adam for
        ``epochs`` epochs; with ``weight_average=ema`` it scores its own steps' average."""
        s = self.settings
        optimizer = make_optimizer(params, "adam", lr, weight_decay=s.weight_decay)
        scheduler = epoch_schedule(optimizer, s.lr_schedule, self.data, s.batch_size, epochs)
        return ClassifierTask(self.net, self.data, self.generator, model_args=self.net_args,
                              optimizer=optimizer, batch_size=s.batch_size,
                              augment=policy(s.augment), lr_scheduler=scheduler,
                              ema_decay=s.averaging_decay)

    def stage_of(self, epoch: int) -> int:
        """0, 1 or 2: the stage epoch ``epoch`` (from 1) belongs to under :attr:`plan`."""
        return min(bisect.bisect_left(list(itertools.accumulate(self.plan)), epoch), 2)

    def _reconstruction_loss(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.data.images("train", idx)
        return F.mse_loss(torch.sigmoid(self.net.reconstruct(x)), x)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.stage = self.stage_of(epoch)
        self.net.freeze_encoder(self.stage == 1)
        stage = {"stage": self.stage, CLASSIFIER_EPOCHS: max(0, epoch - self.plan[0])}
        if self.stage > 0:
            return {**self.classifiers[self.stage].train_epoch(epoch), **stage}
        self.net.train()
        loss = loop.train_batches(self.data, self.settings.batch_size, self.generator,
                                  self.pretrain_optimizer, self._reconstruction_loss)
        return {"train_loss": loss, **stage}

    @torch.no_grad()
    def _probe_codes(self, part: str) -> torch.Tensor:
        """Codes of the probe's ``part`` (``train``: the sampled images), in batches."""
        with self.probe.autocast():
            codes = [self.net.probe_codes(self.probe.images(part, s))
                     for s in self.probe.chunks(part)]
        return torch.cat(codes).float()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.stage > 0:
            return self.classifiers[self.stage].validate()
        self.net.eval()
        y_val = self.data.y["val"]
        recon = 0.0
        for s in self.data.chunks("val"):
            x = self.data.images("val", s)
            with self.data.autocast():
                logits = self.net.reconstruct(x)
            recon += F.mse_loss(torch.sigmoid(logits.float()), x, reduction="sum").item()
        k = min(self.settings.probe_neighbors, len(self.probe_index))
        counts = neighbors.votes(self._probe_codes("train"), self.probe.y["train"],
                                 self._probe_codes("val"), [k], self.data.info.num_classes)[k]
        acc = (neighbors.predict(counts) == y_val).float().mean().item()
        return {"val_loss": recon / y_val.numel() / self.data.x["val"][0].numel(),
                "val_acc": acc, "val_knn_acc": acc,
                "val_auc": roc_auc(y_val.cpu().numpy(), counts.float().cpu().numpy())}

    def selectable(self) -> bool:
        """Whether the current state may be the reported model: a trained classifier (head
        or fine-tuning stage), not a pretraining epoch scored by the probe."""
        return self.stage > 0

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        return self.classifiers[self.stage].test()

    def state_dict(self) -> dict[str, Any]:
        """The net (``net``: the trained weights), the stage, every optimiser and schedule,
        and each stage's weight average (``averages``, by stage, as
        ``ClassifierTask.averaged_state``: with ``weight_average=ema`` the tested model is
        ``averages[stage]["averaged"]``, not ``net``)."""
        optimizers = {stage: c.optimizer.state_dict() for stage, c in self.classifiers.items()}
        schedulers = {stage: c.lr_scheduler.state_dict() for stage, c in self.classifiers.items()
                      if c.lr_scheduler is not None}
        averages = {stage: c.averaged_state() for stage, c in self.classifiers.items()
                    if c.averaged is not None}
        return {**model_state(self.net, self.net_args, "net"), "stage": self.stage,
                "optimizers": {0: self.pretrain_optimizer.state_dict(), **optimizers},
                "lr_schedulers": schedulers, "averages": averages}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.stage = int(state["stage"])
        self.pretrain_optimizer.load_state_dict(state["optimizers"][0])
        for stage, classifier in self.classifiers.items():
            classifier.optimizer.load_state_dict(state["optimizers"][stage])
            if classifier.lr_scheduler is not None:
                classifier.lr_scheduler.load_state_dict(state["lr_schedulers"][stage])
            if classifier.averaged is not None:
                classifier.load_averaged_state(state["averages"][stage])


def train_ae_classifier(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``ae_classifier``."""
    loop.run(config, data, AeClassifierTask)
