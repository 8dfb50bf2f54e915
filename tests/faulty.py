"""``faulty_cnn``, a test-only method: ``cnn`` on a small fixed configuration whose trials
fail on purpose at epoch :data:`FAULT_EPOCH`, as their ``fault`` says:

- ``raise``: a RuntimeError on the first attempt only (a retry restores a checkpoint);
- ``diverge``: a weight turns NaN before the epoch, so the real cnn's loss does;
- ``oom``: allocates a PiB, a real out-of-memory error of the trial's device, every attempt;
- ``none``: a healthy trial.

Its start points are one trial of each, in that order. The tests register it in
``study.registry.METHODS``; Ray workers import this module as ``tests.faulty`` (the driver's
working directory is on their path).
"""

from __future__ import annotations

from typing import Any

import optuna
import torch
from ray import tune

from core.splits import Splits
from search_spaces import cnn as cnn_space
from study.registry import Method
from trainables import cnn, loop
from trainables.classify import ClassifierTask
from trainables.loop import DeviceSplits

METHOD = Method("faulty_cnn", "tests.faulty:train_faulty", "tests.faulty", "test",
                "cnn whose trials raise, diverge or run out of memory on purpose")
FAULT_EPOCH = 2
FAULTS = ("raise", "diverge", "oom", "none")
# The search-space module of faulty_cnn: the fault is searched, the rest fixed and small.
DEFAULTS: dict[str, Any] = {
    **cnn_space.DEFAULTS, "checkpoint_every_s": 0.0, "arch": "mnist_cnn", "dropout": 0.0,
    "init": "default", "optimizer": "adam", "lr": 3e-3, "batch_size": 64, "augment": "none"}
CHOICES = cnn_space.CHOICES
PRESETS: dict[str, Any] = {}
START_POINTS = [{"fault": f} for f in FAULTS]


def space(trial: optuna.Trial) -> None:
    trial.suggest_categorical("fault", list(FAULTS))


class FaultyTask:
    """``cnn``'s task, failing as ``fault`` says at :data:`FAULT_EPOCH`."""

    def __init__(self, task: ClassifierTask, fault: str) -> None:
        self.task, self.fault = task, fault
        self.first_attempt = tune.get_checkpoint() is None

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if epoch == FAULT_EPOCH:
            self.inject()
        return self.task.train_epoch(epoch)

    def inject(self) -> None:
        if self.fault == "raise" and self.first_attempt:
            raise RuntimeError(f"injected fault at epoch {FAULT_EPOCH}")
        if self.fault == "diverge":
            with torch.no_grad():
                next(self.task.model.parameters()).fill_(float("nan"))
        if self.fault == "oom":
            torch.empty(1 << 50, dtype=torch.uint8, device=self.task.data.device)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)


def make_task(config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
              ) -> FaultyTask:
    return FaultyTask(cnn.make_task(config, data, generator), config["fault"])


def train_faulty(config: dict[str, Any], data: Splits) -> None:
    """The faulty_cnn trainable."""
    loop.run(config, data, make_task)
