"""Run a study in-process and quietly for the benchmarks, timing Tune's fit alone."""

from __future__ import annotations

import time

from ray import tune

from core.splits import Splits
from study import launch
from study.spec import StudySpec


def run_study(spec: StudySpec, *, reuse_actors: bool = True, splits: Splits | None = None
              ) -> tuple[tune.ResultGrid, float, float]:
    """Results, the wall-clock start of ``fit`` and its duration in seconds; ``splits``
    replaces the spec's dataset (synthetic data for timing)."""
    tuner = launch.build_tuner(spec.validate(), splits=splits, reuse_actors=reuse_actors,
                               verbose=0)
    start, clock = time.time(), time.perf_counter()
    results = tuner.fit()
    return results, start, time.perf_counter() - clock
