"""Tune overhead per trial: study wall time minus the trials' own compute, per trial.

Baseline: plain Tune as the tutorials set it up (a new actor per trial, a checkpoint every
epoch). Ours: the study's own settings (actor reuse, time-based checkpoints). Both are
16 short vae_knn trials on digits in one local Ray, two at a time.
"""

from __future__ import annotations

import tempfile

from bench.report import Figure, fraction
from bench.studies import run_study
from study.spec import StudySpec

TRIALS, EPOCHS, CONCURRENT = 16, 2, 2
SMALL = {"arch": "dense", "latent_dim": 8, "batch_size": 256}


def overhead(reuse_actors: bool, checkpoint_every_s: float, storage: str, name: str) -> float:
    """Seconds of overhead per trial: (wall - compute / concurrency) / trials."""
    spec = StudySpec(method="vae_knn", num_samples=TRIALS, max_epochs=EPOCHS, scheduler="fifo",
                     searcher="random", storage=storage, name=name, report=False,
                     fixed={**SMALL, "checkpoint_every_s": checkpoint_every_s},
                     max_concurrent=CONCURRENT)
    results, _, wall = run_study(spec, reuse_actors=reuse_actors)
    compute = sum(r.metrics["time_total_s"] for r in results)
    return (wall - compute / CONCURRENT) / TRIALS


def run(quick: bool) -> list[Figure]:
    import ray

    ray.init(num_cpus=CONCURRENT, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            # One warm-up study so both measured runs find Ray's worker pool started.
            overhead(True, 30.0, storage, "warmup")
            base = overhead(False, 0.0, storage, "plain")
            ours = overhead(True, 30.0, storage, "ours")
    finally:
        ray.shutdown()
    label = f"tune_overhead_per_trial ({TRIALS} trials x {EPOCHS} epochs, {CONCURRENT} at a time)"
    return [fraction(label, ours, base, "s", "<= 0.5 s")]
