"""Faults inside a trial: what fails it for good, what Tune retries, and the reason either way.

- **Divergence**: a NaN or infinite loss (or test score) fails the trial at once. The loop
  reports the failed epoch (every metric NaN, the reason under :data:`DIVERGED`) and raises
  :class:`Diverged`; :class:`NoRetryOnDivergence`, a Tune callback on the driver, has seen
  that row and turned the trial's retries off, since training again from its checkpoint
  would diverge again. Tune records the trial as ERROR, Optuna as FAIL.
- **Out of memory** (CUDA's, Python's ``MemoryError``, torch's CPU allocator): raised again
  as :class:`OutOfMemory`, naming the epoch and device, and retried like any error (up to
  ``--max-failures``): trials sharing a GPU free memory as they end, and on a cluster the
  retry may land on another node.

Tune appends each failure's traceback to the trial's ``error.txt``; its last line (the
exception and message) is the reason the analysis shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from ray import tune

from core.layout import DIVERGED

#: Metrics that must stay finite, unless a task names its own in ``finite_metrics``.
FINITE_METRICS = ("train_loss", "val_loss")


class Diverged(Exception):
    """Losses or scores turned NaN or infinite: the trial fails at once, never retried."""


class OutOfMemory(Exception):
    """The trial ran out of device or host memory (retried like any error)."""


def check_finite(metrics: dict[str, Any], keys: Iterable[str], epoch: int) -> None:
    """Raise :class:`Diverged` when one of ``keys`` in ``metrics`` is NaN or infinite."""
    for key in keys:
        value = metrics.get(key)
        if value is not None and not math.isfinite(value):
            raise Diverged(f"{key} is {value} at epoch {epoch}")


def check_scores(scores: np.ndarray, epoch: int) -> None:
    """Raise :class:`Diverged` when the test class scores are not all finite."""
    bad = int(np.size(scores) - np.isfinite(scores).sum())
    if bad:
        raise Diverged(f"{bad} of {np.size(scores)} test scores are not finite at epoch {epoch}")


def report_diverged(metrics: dict[str, Any], reason: str) -> None:
    """Report the failed epoch: every number NaN (the objective too, so that no scheduler
    ranks the trial on it), the reason under :data:`DIVERGED`."""
    row = {k: math.nan if isinstance(v, (int, float)) and k != "epoch" else v
           for k, v in metrics.items()}
    tune.report({**row, DIVERGED: reason})


@contextmanager
def out_of_memory(where: str, device: torch.device) -> Iterator[None]:
    """Re-raise running out of memory ``where`` (e.g. "at epoch 3") as :class:`OutOfMemory`."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        lines = str(err).strip().splitlines()
        raise OutOfMemory(f"out of memory {where} on {device.type}: "
                          f"{lines[0] if lines else type(err).__name__}") from err


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's ``torch.OutOfMemoryError``, Python's ``MemoryError`` (numpy's too), or torch's
    CPU allocator failing (a plain RuntimeError)."""
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(err, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(err))


class NoRetryOnDivergence(tune.Callback):
    """Driver side (``study.launch`` puts it in the RunConfig): a trial that reported
    :data:`DIVERGED` gets no retries. Tune's ``FailureConfig`` retries every error, and has
    no exception it would not retry; the scheduler must not stop the trial on that report
    (ASHA with ``stop_last_trials=False``), or its error never arrives."""

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        if result.get(DIVERGED):
            trial.max_failures = 0
