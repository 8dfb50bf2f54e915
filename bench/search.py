"""Search efficiency: ASHA + TPE against FIFO + random search on vae_knn (digits).

For each seed, the random search's best validation accuracy is the target; the figure is
the trial-epochs and wall time each search needed to first reach it (a search that never
reaches it is charged its whole budget), averaged over seeds.
"""

from __future__ import annotations

import tempfile

import pandas as pd

from bench.report import Figure, fraction
from bench.studies import run_study
from study.spec import StudySpec


def epochs_frame(results, start: float) -> pd.DataFrame:
    """Every reported epoch of every trial, in the order they happened."""
    frames = [r.metrics_dataframe[["val_acc", "wall_time"]] for r in results
              if r.metrics_dataframe is not None and "wall_time" in r.metrics_dataframe]
    rows = pd.concat(frames, ignore_index=True).sort_values("wall_time", ignore_index=True)
    rows["elapsed"] = rows["wall_time"] - start
    return rows


def cost_to_reach(rows: pd.DataFrame, target: float, wall: float) -> tuple[int, float, bool]:
    """(trial-epochs, seconds, reached) until val_acc first reaches ``target``."""
    hits = rows.index[rows["val_acc"] >= target - 1e-9]
    if len(hits) == 0:
        return len(rows), wall, False
    first = int(hits[0])
    return first + 1, float(rows.loc[first, "elapsed"]), True


def run(quick: bool) -> list[Figure]:
    import ray

    samples, epochs, seeds = (16, 10, (0, 1, 2)) if quick else (24, 15, (0, 1, 2, 3, 4))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    costs: dict[str, list[tuple[int, float, bool]]] = {"random": [], "asha_tpe": []}
    try:
        with tempfile.TemporaryDirectory() as storage:
            for seed in seeds:
                runs = {}
                for label, scheduler, searcher in (("random", "fifo", "random"),
                                                   ("asha_tpe", "asha", "optuna")):
                    spec = StudySpec(method="vae_knn", num_samples=samples, max_epochs=epochs,
                                     scheduler=scheduler, searcher=searcher, seed=seed,
                                     storage=storage, name=f"{label}-{seed}", report=False)
                    results, start, wall = run_study(spec)
                    runs[label] = (epochs_frame(results, start), wall)
                target = runs["random"][0]["val_acc"].max()
                for label, (rows, wall) in runs.items():
                    costs[label].append(cost_to_reach(rows, target, wall))
    finally:
        ray.shutdown()
    mean = {k: (sum(c[0] for c in v) / len(v), sum(c[1] for c in v) / len(v))
            for k, v in costs.items()}
    missed = sum(not c[2] for c in costs["asha_tpe"])
    note = f"{samples} trials x {epochs} epochs, {len(seeds)} seeds, missed {missed}"
    return [fraction(f"search_trial_epochs_to_random_best ({note})", mean["asha_tpe"][0],
                     mean["random"][0], "trial-epochs", "<= 1/3"),
            fraction(f"search_wall_to_random_best ({note})", mean["asha_tpe"][1],
                     mean["random"][1], "s", "<= 1/3")]
