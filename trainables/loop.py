"""The one training loop: device data, seeding, epochs, reports, checkpoints, test at the end.

A method supplies a :class:`Task` (what one epoch, a validation pass and the final test
mean for it); :func:`run` does everything else the same way for every method. The loop
reads the config keys of :class:`LoopSettings` and :class:`AccelerationSettings`.

The reported model (tested once, kept in the final checkpoint) is chosen by ``select_epoch``
(:class:`EpochSelector`): ``best`` (the default) restores the weights of the epoch with the
best ``select_metric`` on validation (``val_acc``, the default, or ``val_auc``, as MedMNIST's
experiments select) before the test; ``last`` tests the last epoch's weights. Every epoch is
still reported as it was trained, so ASHA sees the whole curve; the final result adds
``selected_epoch`` and that epoch's ``selected_val_acc``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Protocol

import numpy as np
import ray
import torch
from ray import tune
from torch import nn

from core.defaults import LOOP_DEFAULTS
from core.layout import CHECKPOINT_FILE, PREDICTIONS_FILE, REPEAT_KEY
from core.names import PRECISIONS, SELECT_EPOCHS, SELECT_METRICS
from core.settings import OneOf, Settings
from core.splits import DatasetInfo, Splits
from trainables import checkpoints, faults
from trainables.metrics import classification_metrics, save_predictions
from trainables.selection import EpochSelector

logger = logging.getLogger(__name__)

#: Keys every trial reports, in the order Tune's progress table shows them.
CORE_KEYS = ("val_acc", "val_loss", "train_loss", "epoch")


@dataclass(frozen=True, kw_only=True)
class TrialSeed(Settings):
    """The study seed and the repeat index Tune's Repeater sets (``--repeats``)."""

    seed: int = 0
    trial_index: int = field(default=0, metadata={"key": REPEAT_KEY})

    @property
    def trial_seed(self) -> int:
        """The study seed, offset by the repeat index."""
        return self.seed + 1000 * self.trial_index


@dataclass(frozen=True, kw_only=True)
class LoopSettings(TrialSeed):
    """The config keys every trial's loop reads, besides :class:`AccelerationSettings`."""

    max_epochs: int
    #: ``--reproducible``: deterministic torch algorithms.
    deterministic: bool = False
    #: The test fraction of a re-split (``cnn`` samples it); None: the study's splits.
    split_ratio: float | None = None
    val_fraction: float = 0.2
    checkpoint_every_s: float = LOOP_DEFAULTS["checkpoint_every_s"]
    #: The reported epoch (:class:`EpochSelector`): ``best`` validation objective or ``last``.
    select_epoch: Annotated[str, OneOf(SELECT_EPOCHS)] = LOOP_DEFAULTS["select_epoch"]
    #: What ``select_epoch=best`` maximises.
    select_metric: Annotated[str, OneOf(SELECT_METRICS)] = LOOP_DEFAULTS["select_metric"]


@dataclass(frozen=True, kw_only=True)
class AccelerationSettings(Settings):
    """``--precision`` and ``--compile``; a config without them (a study started before the
    flags existed, resumed) stays in fp32 and eager, as it began."""

    precision: Annotated[str, OneOf(PRECISIONS)] = "fp32"
    compile: bool = False


@dataclass(frozen=True)
class Acceleration:
    """How a trial runs its models: bf16 autocast (``amp_dtype``) and ``torch.compile``."""

    amp_dtype: torch.dtype | None = None
    compile: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any], device: torch.device) -> Acceleration:
        """From the config's :class:`AccelerationSettings`: ``auto`` precision means bf16
        only on a GPU that computes it natively (Ampere or newer), not emulated."""
        settings = AccelerationSettings.from_config(config)
        bf16 = settings.precision == "bf16" or (
            settings.precision == "auto" and device.type == "cuda"
            and torch.cuda.is_bf16_supported(including_emulation=False))
        return cls(torch.bfloat16 if bf16 else None, settings.compile)

    def begin_trial(self) -> None:
        """Forget code compiled for earlier trials of this process (Ray reuses actors), so
        this trial's models compile afresh instead of hitting dynamo's recompile limit
        (8 per function) and silently running eager."""
        if self.compile:
            torch._dynamo.reset()


@dataclass
class DeviceSplits:
    """The three splits as uint8 / int64 tensors resident on the trial's device, and how
    models run there (:class:`Acceleration`)."""

    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    info: DatasetInfo
    device: torch.device
    accel: Acceleration = Acceleration()

    @classmethod
    def from_splits(cls, splits: Splits, device: torch.device,
                    accel: Acceleration = Acceleration()) -> DeviceSplits:
        parts = ("train", "val", "test")
        # Arrays from Ray's object store are read-only; they are only ever read here, so
        # share them (no copy per trial) and silence torch's not-writable warning.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return cls(
                x={p: torch.from_numpy(getattr(splits, f"x_{p}")).to(device) for p in parts},
                y={p: torch.from_numpy(getattr(splits, f"y_{p}")).to(device) for p in parts},
                info=splits.info, device=device, accel=accel)

    def place(self, model: nn.Module, *, channels_last: bool = False) -> nn.Module:
        """``model`` on the device (in channels_last layout if asked), its forward compiled
        in place when the trial runs with ``compile`` (state_dict keys stay the same)."""
        layout = torch.channels_last if channels_last else torch.preserve_format
        model = model.to(self.device, memory_format=layout)
        if self.accel.compile:
            model.compile()
        return model

    def autocast(self) -> AbstractContextManager:
        """Forward passes under this context run in bf16 where the trial asked for it;
        outputs that feed k-NN or metrics are cast back to float32 by the caller."""
        if self.accel.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.accel.amp_dtype)

    def images(self, part: str, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """Images of a split (or of the indexed rows) as float in [0, 1]."""
        return self.x[part][index].float().div_(255.0)

    def batches(self, part: str, batch_size: int, generator: torch.Generator,
                weights: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Index batches over a random permutation of the split (no DataLoader), or, given
        ``weights`` (one per row, on the CPU), over as many rows drawn with replacement in
        proportion to them."""
        n = len(self.y[part])
        if weights is None:
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.multinomial(weights, n, replacement=True, generator=generator)
        order = order.to(self.device)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]

    def chunks(self, part: str, batch_size: int = 1024) -> Iterator[slice]:
        """Contiguous slices over a split, for batched no-grad evaluation."""
        n = len(self.y[part])
        for start in range(0, n, batch_size):
            yield slice(start, min(n, start + batch_size))


class Task(Protocol):
    """What a method must provide to the loop.

    A task may also name the metrics that must stay finite (``finite_metrics``, by default
    :data:`~trainables.faults.FINITE_METRICS`); one whose losses are NaN by design names none.
    A staged task may also say, after each validation, whether its current state may be the
    reported model (``selectable() -> bool``, by default always; :class:`EpochSelector`):
    ``ae_classifier`` refuses its pretraining epochs (their ``val_acc`` is a k-NN probe and
    the head is untrained), ``gan_balance`` the epochs of its baseline classifier.
    """

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch; returns at least ``train_loss``."""

    def validate(self) -> dict[str, float]:
        """Score the validation split; returns at least ``val_loss`` and the objective."""

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        """Extra test metrics and the test class scores (N × classes) of the final model."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training (models, optimisers)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


TaskFactory = Callable[[dict[str, Any], DeviceSplits, torch.Generator], Task]


def train_batches(data: DeviceSplits, batch_size: int, generator: torch.Generator,
                  optimizer: torch.optim.Optimizer,
                  batch_loss: Callable[[torch.Tensor], torch.Tensor], *,
                  weights: torch.Tensor | None = None) -> float:
    """One optimiser pass over the train split: ``batch_loss(index batch)`` then a step.

    Returns the mean loss per image; batches of one are skipped (batch norm needs two), so a
    pass takes :func:`steps_per_epoch` steps. ``batch_loss`` runs under the trial's autocast,
    the backward pass outside it. ``weights``: rows drawn in proportion to them
    (:meth:`DeviceSplits.batches`).
    """
    total, n = torch.zeros((), device=data.device), 0
    for idx in data.batches("train", batch_size, generator, weights):
        if len(idx) < 2:
            continue
        with data.autocast():
            loss = batch_loss(idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(idx)
        n += len(idx)
    return (total / max(n, 1)).item()


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps of one :func:`train_batches` pass over ``rows`` training rows."""
    return sum(min(batch_size, rows - start) >= 2 for start in range(0, rows, batch_size))


def trial_seed(config: dict[str, Any]) -> int:
    """The study seed, offset by the repeat index when the study runs repeats."""
    return TrialSeed.from_config(config).trial_seed


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_deterministic(on: bool) -> None:
    """Deterministic torch algorithms (``--reproducible``), or torch's defaults; an op
    without a deterministic version warns instead of failing the trial."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.benchmark = False


def placement(device: torch.device) -> dict[str, Any]:
    """Where this trial runs: node, host, device and the GPU ids Ray assigned."""
    info: dict[str, Any] = {"hostname": socket.gethostname(), "device": device.type}
    if ray.is_initialized():
        info["node_id"] = ray.get_runtime_context().get_node_id()
        info["gpu_ids"] = ",".join(str(g) for g in ray.get_gpu_ids())
    return info


def pick_device() -> torch.device:
    """CUDA when Ray gave this trial a GPU (CUDA_VISIBLE_DEVICES is set by Ray), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run(config: dict[str, Any], data: Splits, make_task: TaskFactory) -> None:
    """Train ``make_task``'s task for ``config['max_epochs']`` epochs under Ray Tune.

    Reports ``epoch`` plus the task's metrics every epoch, checkpoints at the end and
    whenever ``checkpoint_every_s`` seconds passed since the last one (ASHA stops trials
    rather than pausing them, so checkpoints only serve fault tolerance and the analysis),
    resumes from Tune's checkpoint, and evaluates the test split once, after the last epoch,
    on the epoch ``select_epoch`` selects (:class:`EpochSelector`; the final checkpoint holds
    that epoch's state). Faults (a diverged loss, running out of memory) end it as
    :mod:`trainables.faults` says.
    """
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # no line per checkpoint
    settings = LoopSettings.from_config(config)
    generator = seed_everything(settings.trial_seed)
    set_deterministic(settings.deterministic)
    if settings.split_ratio is not None:
        data = data.resplit(settings.split_ratio, settings.val_fraction, settings.seed)
    device = pick_device()
    accel = Acceleration.from_config(config, device)
    accel.begin_trial()
    with faults.out_of_memory("while setting up", device):
        dev = DeviceSplits.from_splits(data, device, accel)
        task = make_task(config, dev, generator)
        selector = EpochSelector(settings.select_epoch, settings.select_metric)
        start = _restore(task, generator, selector)
    where = placement(device)
    last_save = time.monotonic()

    for epoch in range(start + 1, settings.max_epochs + 1):
        last = epoch == settings.max_epochs
        metrics = _epoch(task, dev, epoch, last, where, selector)
        if last or time.monotonic() - last_save >= settings.checkpoint_every_s:
            last_save = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                checkpoints.save(os.path.join(tmp, CHECKPOINT_FILE), epoch=epoch,
                                 task=task.state_dict(), generator=generator,
                                 info=asdict(dev.info), **selector.entries(epoch, last))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        else:
            tune.report(metrics)


def _epoch(task: Task, dev: DeviceSplits, epoch: int, last: bool, where: dict[str, Any],
           selector: EpochSelector) -> dict[str, Any]:
    """Train and validate one epoch (and, after the last, select and test): the metrics to
    report.

    A NaN or infinite loss or test score is reported as a failed epoch and raises
    :class:`~trainables.faults.Diverged`; running out of memory raises ``OutOfMemory``.
    """
    with faults.out_of_memory(f"at epoch {epoch}", dev.device):
        metrics = _ordered({"epoch": epoch, **task.train_epoch(epoch), **task.validate()})
        try:
            faults.check_finite(metrics, getattr(task, "finite_metrics", faults.FINITE_METRICS),
                                epoch)
            if last:
                metrics.update(selector.finish(epoch, metrics, task))
                metrics.update(_final_test(task, dev, epoch))
            else:
                selector.observe(epoch, metrics, task)
        except faults.Diverged as err:
            faults.report_diverged({**metrics, **where}, str(err))
            raise
    return {**metrics, **where, "wall_time": time.time()}


def _ordered(metrics: dict[str, Any]) -> dict[str, Any]:
    """Core keys first: Tune's progress table shows the first few metrics of a result."""
    core = {k: metrics.pop(k) for k in CORE_KEYS if k in metrics}
    return {**core, **metrics}


def _restore(task: Task, generator: torch.Generator, selector: EpochSelector) -> int:
    """Load Tune's checkpoint, if any, into the task, generator and selector: the epoch to
    continue after (0: a fresh trial)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as path:
        state = checkpoints.load(os.path.join(path, CHECKPOINT_FILE))
    selector.restore(state)
    task.load_state_dict(state["task"])
    generator.set_state(state["generator"])
    logger.info("resumed from epoch %d", state["epoch"])
    return int(state["epoch"])


def _final_test(task: Task, dev: DeviceSplits, epoch: int) -> dict[str, float]:
    extra, scores = task.test()
    faults.check_scores(scores, epoch)
    y_test = dev.y["test"].cpu().numpy()
    save_predictions(os.path.join(tune.get_context().get_trial_dir(), PREDICTIONS_FILE),
                     y_test, scores, dev.info.classes)
    return {**classification_metrics(y_test, scores), **extra}
