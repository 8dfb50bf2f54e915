"""Which epoch a trial tests: ``select_epoch`` ``best`` (the weights of the epoch with the best
``select_metric`` on validation, restored before the test) or ``last`` (:class:`EpochSelector`,
used by ``trainables.loop``)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from core.names import SELECT_EPOCHS, SELECT_METRICS, TIE_BREAK_METRIC

#: ``select_metric``'s default and every registered method's ``metric`` (``study.registry``;
#: the trial does not see the study's objective, so a method with another metric must change
#: this). The final result reports it for the selected epoch as ``selected_val_acc``, beside
#: ``selected_<select_metric>``; the analysis ranks trials on the objective's ``selected_`` form.
OBJECTIVE = "val_acc"


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
    ``metric`` (``select_metric``: :data:`OBJECTIVE` or ``val_auc``) is finite, whose task is
    ``selectable()`` (see :class:`Task`) and which beats every earlier such epoch strictly
    becomes the best so far, and a CPU copy of the task's state (:func:`cpu_copy`) replaces
    the last one kept. An epoch beats another with a higher ``metric``, or with the same and a
    lower :data:`TIE_BREAK_METRIC`; a full tie (or a missing or NaN loss) keeps the earlier
    one. A selectable epoch that does not report ``metric`` at all is a ValueError (a k-NN
    method reports no ``val_auc``).
    After the last epoch's validation, :meth:`finish` decides, before the test:

    - the last epoch is selected when it is selectable and not beaten by the best earlier
      epoch (a full tie with the last epoch keeps the live state: nothing is reloaded, so
      tasks whose scores never change, such as the fitted-once PCA / Isomap reducers, never
      reload or refit), or when no earlier epoch was selectable;
    - otherwise the best earlier epoch's state is loaded back into the task
      (``task.load_state_dict``), and the test and the final checkpoint are that epoch's.

    ``selected_epoch`` and that epoch's :data:`OBJECTIVE`, ``metric`` and tie-break as
    ``selected_<name>`` (:meth:`reported`) join the final result; with ``last`` they are the
    last epoch's. The best so far (epoch, value, loss, reported scores, state) travels in
    intermediate checkpoints (:meth:`entries`, :meth:`restore`).

    >>> selector = EpochSelector("best")
    >>> for epoch, acc, loss in [(1, 0.5, 0.6), (2, 0.9, 0.3), (3, 0.9, 0.2), (4, 0.9, 0.2)]:
    ...     selector.observe(epoch, {"val_acc": acc, "val_loss": loss}, task=None)
    >>> selector.epoch, selector.value
    (3, 0.9)
    """

    def __init__(self, mode: str = "best", metric: str = OBJECTIVE) -> None:
        if mode not in SELECT_EPOCHS:
            raise ValueError(f"select_epoch must be one of {', '.join(SELECT_EPOCHS)}, "
                             f"got {mode!r}")
        if metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {', '.join(SELECT_METRICS)}, "
                             f"got {metric!r}")
        self.mode, self.metric = mode, metric
        #: The best selectable epoch so far (0: none yet), its ``metric``, its tie-break
        #: loss, the scores the final result reports for it and its state.
        self.epoch = 0
        self.value = -math.inf
        self.loss = math.nan
        self.scores: dict[str, float] = {}
        self.state: dict[str, Any] | None = None

    def reported(self, metrics: dict[str, Any]) -> dict[str, float]:
        """An epoch's scores the final result reports as ``selected_<name>``: the objective,
        the selection metric and the tie-break (NaN where the epoch has none)."""
        names = dict.fromkeys((OBJECTIVE, self.metric, TIE_BREAK_METRIC))
        return {name: float(metrics.get(name, math.nan)) for name in names}

    def candidate(self, metrics: dict[str, Any], task: Any) -> tuple[float, float] | None:
        """The epoch's (metric, tie-break loss) if it may be selected (task selectable,
        finite metric), else None."""
        if self.mode != "best":
            return None
        selectable = getattr(task, "selectable", None)
        if selectable is not None and not selectable():
            return None
        if self.metric not in metrics:
            raise ValueError(f"select_metric={self.metric}: this method's validation reports "
                             f"no {self.metric} (it reports {', '.join(sorted(metrics))})")
        value = float(metrics[self.metric])
        if not math.isfinite(value):
            return None
        return value, float(metrics.get(TIE_BREAK_METRIC, math.nan))

    def observe(self, epoch: int, metrics: dict[str, Any], task: Any) -> None:
        """After epoch ``epoch``'s validation (not the last's: see :meth:`finish`)."""
        candidate = self.candidate(metrics, task)
        if candidate is not None and beats(candidate, (self.value, self.loss)):
            self.epoch, (self.value, self.loss), self.state = epoch, candidate, None
            self.scores = self.reported(metrics)
            if task is not None:  # one copy at a time
                self.state = cpu_copy(task.state_dict())

    def finish(self, epoch: int, metrics: dict[str, Any], task: Any) -> dict[str, Any]:
        """After the last epoch's validation: load the selected state into ``task`` (when it
        is an earlier epoch's) and return ``selected_epoch`` and that epoch's
        :meth:`reported` scores as ``selected_<name>``."""
        candidate = self.candidate(metrics, task)
        if self.state is not None and (candidate is None
                                       or beats((self.value, self.loss), candidate)):
            task.load_state_dict(self.state)  # an earlier epoch, strictly better
        else:  # the last epoch; with select_epoch=last, or when none was selectable, too
            self.epoch, self.scores = epoch, self.reported(metrics)
        self.state = None  # the task holds the selected state now; free the copy
        return {"selected_epoch": self.epoch,
                **{f"selected_{name}": value for name, value in self.scores.items()}}

    def entries(self, epoch: int, last: bool) -> dict[str, Any]:
        """What the checkpoint of epoch ``epoch`` keeps besides the task's state: the final
        one names ``selected_epoch``, an intermediate one the best so far as ``best`` (its
        state only when it is not the checkpoint's own epoch)."""
        if last:
            return {"selected_epoch": self.epoch}
        if not self.epoch:
            return {}
        best: dict[str, Any] = {"epoch": self.epoch, "value": self.value, "loss": self.loss,
                                "scores": self.scores}
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
        # absent in checkpoints before select_metric, whose value was the objective
        self.scores = best.get("scores") or {OBJECTIVE: self.value, TIE_BREAK_METRIC: self.loss}
        state = best.get("task")
        # the checkpoint's own epoch: copied before the task loads it and trains on
        self.state = cpu_copy(saved["task"] if state is None else state)
