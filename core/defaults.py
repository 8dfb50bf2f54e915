"""Defaults the driver, the trial loop and the analysis must agree on."""

from typing import Any

#: Config keys the trial loop reads for every method (fixable with ``--set``):
#: ``select_epoch`` is one of ``core.names.SELECT_EPOCHS`` (``trainables.selection.EpochSelector``).
LOOP_DEFAULTS: dict[str, Any] = {"checkpoint_every_s": 30.0, "select_epoch": "best"}
#: ASHA's reduction factor: the launcher's scheduler and the analysis's rungs.
ASHA_REDUCTION_FACTOR = 3
