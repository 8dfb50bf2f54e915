"""Optional experiment trackers through Tune's own logger callbacks: ``--mlflow URI`` and
``--wandb PROJECT`` (README "Experiment trackers"). Each package is an extra, imported only
when its option is given (StudySpec checks that it is installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from study.spec import StudySpec


def callbacks(spec: StudySpec) -> list[Any]:
    """Tune callbacks for the study's trackers: an MLflow experiment or a W&B group named
    after the study, one run per trial with its config and every result it reports."""
    found: list[Any] = []
    if spec.mlflow is not None:
        from study.mlflow_logger import MLflowLogger

        found.append(MLflowLogger(spec.mlflow, experiment_name=spec.name))
    if spec.wandb is not None:
        from ray.air.integrations.wandb import WandbLoggerCallback

        found.append(WandbLoggerCallback(project=spec.wandb, group=spec.name))
    return found
