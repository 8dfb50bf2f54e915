"""Defaults the driver, the trial loop and the analysis must agree on."""

from typing import Any

from core.names import SELECT_EPOCHS

#: Config keys the trial loop reads for every method (fixable with ``--set``):
#: ``select_epoch`` is one of ``core.names.SELECT_EPOCHS``, ``select_metric`` one of the
#: method's ``study.registry.Method.select_metrics`` (``trainables.selection.EpochSelector``).
LOOP_DEFAULTS: dict[str, Any] = {"checkpoint_every_s": 30.0, "select_epoch": "best",
                                 "select_metric": "val_acc"}
#: The values a loop constant may take, checked when a study is planned.
LOOP_CHOICES: dict[str, tuple[str, ...]] = {"select_epoch": SELECT_EPOCHS}
#: ASHA's reduction factor: the launcher's scheduler and the analysis's rungs.
ASHA_REDUCTION_FACTOR = 3
