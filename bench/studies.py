"""Run a study in-process and quietly for the benchmarks, timing Tune's fit alone."""

from __future__ import annotations

import time

from ray import tune

from study import launch, registry
from study.spec import StudySpec


def run_study(spec: StudySpec, *, reuse_actors: bool = True
              ) -> tuple[tune.ResultGrid, float, float]:
    """Results, the wall-clock start of ``fit`` and its duration in seconds."""
    spec.validate()
    method = registry.get(spec.method)
    fixed = launch.checked_fixed(spec, method)
    launch.check_storage(spec)
    trainable = launch.trainable_for(spec, method, launch.load_data(spec))
    tuner = launch.new_tuner(spec, method, trainable, fixed, reuse_actors=reuse_actors,
                             verbose=0)
    start, clock = time.time(), time.perf_counter()
    results = tuner.fit()
    return results, start, time.perf_counter() - clock
