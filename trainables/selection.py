"""Which epoch a trial tests: ``select_epoch`` ``best`` (the best validation epoch's weights,
restored before the test) or ``last`` (:class:`EpochSelector`, used by ``trainables.loop``)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from core.names import SELECT_EPOCHS, TIE_BREAK_METRIC

#: The validation objective ``select_epoch=best`` maximises. It is the study's objective for
#: every registered method (``study.registry.Method``: metric ``val_acc``, mode ``max``), and
#: the trial does not see the study's objective, so a method with another one must change this.
SELECT_METRIC = "val_acc"


def cpu_copy(value: Any) -> Any:
    """A deep copy of a (nested) state dict with every tensor copied to the CPU: it neither
    follows later training nor holds device memory. Dict subclasses keep their type and
    attributes (a module state dict's ``_metadata``)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        out = copy.copy(value)
        for key, item in value.items():
            out[key] = cpu_copy(item)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(cpu_copy(v) for v in value)
    return copy.deepcopy(value)


def beats(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether an epoch scoring ``a`` (objective, tie-break loss) beats one scoring ``b``: a
    higher objective, or the same and a lower loss (a NaN loss never breaks a tie)."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])


class EpochSelector:
    """Which epoch's state a trial tests and keeps: ``select_epoch`` ``best`` or ``last``.

    With ``best``, after every validation the loop calls :meth:`observe`: an epoch whose
    :data:`SELECT_METRIC` is finite, whose task is ``selectable()`` (see :class:`Task`) and
    which beats every earlier such epoch strictly becomes the best so far, and a CPU copy of
    the task's state (:func:`cpu_copy`) replaces the last one kept. An epoch beats another
    with a higher :data:`SELECT_METRIC`, or with the same and a lower
    :data:`TIE_BREAK_METRIC`; a full tie (or a missing or NaN loss) keeps the earlier one.
    After the last epoch's validation, :meth:`finish` decides, before the test:

    - the last epoch is selected when it is selectable and not beaten by the best earlier
      epoch (a full tie with the last epoch keeps the live state: nothing is reloaded, so
      tasks whose scores never change, such as the fitted-once PCA / Isomap reducers, never
      reload or refit), or when no earlier epoch was selectable;
    - otherwise the best earlier epoch's state is loaded back into the task
      (``task.load_state_dict``), and the test and the final checkpoint are that epoch's.

    ``selected_epoch``, ``selected_val_acc`` and ``selected_val_loss`` (that epoch's objective
    and tie-break) join the final result; with ``last`` they are the last epoch's. The
    best-so-far (epoch, value, loss, state) travels in intermediate checkpoints
    (:meth:`entries`, :meth:`restore`).

    >>> selector = EpochSelector("best")
    >>> for epoch, acc, loss in [(1, 0.5, 0.6), (2, 0.9, 0.3), (3, 0.9, 0.2), (4, 0.9, 0.2)]:
    ...     selector.observe(epoch, {"val_acc": acc, "val_loss": loss}, task=None)
    >>> selector.epoch, selector.value
    (3, 0.9)
    """

    def __init__(self, mode: str = "best") -> None:
        if mode not in SELECT_EPOCHS:
            raise ValueError(f"select_epoch must be one of {', '.join(SELECT_EPOCHS)}, "
                             f"got {mode!r}")
        self.mode = mode
        #: The best selectable epoch so far (0: none yet), its objective, its tie-break
        #: loss and its state.
        self.epoch = 0
        self.value = -math.inf
        self.loss = math.nan
        self.state: dict[str, Any] | None = None

    def candidate(self, metrics: dict[str, Any], task: Any) -> tuple[float, float] | None:
        """The epoch's (objective, tie-break loss) if it may be selected (finite objective,
        task selectable), else None."""
        value = metrics.get(SELECT_METRIC)
        if self.mode != "best" or value is None or not math.isfinite(value):
            return None
        selectable = getattr(task, "selectable", None)
        if selectable is not None and not selectable():
            return None
        return float(value), float(metrics.get(TIE_BREAK_METRIC, math.nan))

    def observe(self, epoch: int, metrics: dict[str, Any], task: Any) -> None:
        """After epoch ``epoch``'s validation (not the last's: see :meth:`finish`)."""
        candidate = self.candidate(metrics, task)
        if candidate is not None and beats(candidate, (self.value, self.loss)):
            self.epoch, (self.value, self.loss), self.state = epoch, candidate, None
            if task is not None:  # one copy at a time
                self.state = cpu_copy(task.state_dict())

    def finish(self, epoch: int, metrics: dict[str, Any], task: Any) -> dict[str, Any]:
        """After the last epoch's validation: load the selected state into ``task`` (when it
        is an earlier epoch's) and return ``selected_epoch`` and the objective and tie-break
        of that epoch as ``selected_<name>``."""
        candidate = self.candidate(metrics, task)
        if self.state is not None and (candidate is None
                                       or beats((self.value, self.loss), candidate)):
            task.load_state_dict(self.state)  # an earlier epoch, strictly better
        else:
            if candidate is None:  # select_epoch=last, or no epoch was selectable: its own
                candidate = (float(metrics.get(SELECT_METRIC, math.nan)),
                             float(metrics.get(TIE_BREAK_METRIC, math.nan)))
            self.epoch, (self.value, self.loss) = epoch, candidate
        self.state = None  # the task holds the selected state now; free the copy
        return {"selected_epoch": self.epoch, f"selected_{SELECT_METRIC}": self.value,
                f"selected_{TIE_BREAK_METRIC}": self.loss}

    def entries(self, epoch: int, last: bool) -> dict[str, Any]:
        """What the checkpoint of epoch ``epoch`` keeps besides the task's state: the final
        one names ``selected_epoch``, an intermediate one the best so far as ``best`` (its
        state only when it is not the checkpoint's own epoch)."""
        if last:
            return {"selected_epoch": self.epoch}
        if not self.epoch:
            return {}
        best: dict[str, Any] = {"epoch": self.epoch, "value": self.value, "loss": self.loss}
        if self.epoch != epoch:
            best["task"] = self.state
        return {"best": best}

    def restore(self, saved: dict[str, Any]) -> None:
        """The best so far from a loaded checkpoint (``saved``, as :meth:`entries` wrote it
        into the file); a checkpoint without ``best`` (none yet, ``select_epoch=last``, or
        written before selection existed) leaves the selector empty."""
        best = saved.get("best")
        if self.mode != "best" or not best:
            return
        self.epoch, self.value = int(best["epoch"]), float(best["value"])
        self.loss = float(best.get("loss", math.nan))  # absent in checkpoints before ties
        state = best.get("task")
        # the checkpoint's own epoch: copied before the task loads it and trains on
        self.state = cpu_copy(saved["task"] if state is None else state)
