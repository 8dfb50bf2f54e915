"""Tune's MLflow logger callback with metric names that MLflow takes (imported for ``--mlflow``
only: it imports mlflow)."""

from __future__ import annotations

import re
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback


class MLflowLogger(MLflowLoggerCallback):
    """Logs ``val_acc@5`` as ``val_acc_5``: MLflow's names hold letters, digits and
    ``_-. :/`` only."""

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        named = {re.sub(r"[^\w\-. :/]", "_", key): value for key, value in result.items()}
        super().log_trial_result(iteration, trial, named)
