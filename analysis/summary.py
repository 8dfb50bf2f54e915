"""The headline numbers of a study: trial counts, compute, the selected configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.intervals import mean_ci
from analysis.results import STATUSES, TEST_METRICS, Study, config_key, same_configuration
from analysis.tables import fmt_mean_ci, fmt_number, fmt_value

#: Trials with failures the summary names one by one (the report's table lists them all).
FAILURE_LINES = 5
#: Characters of a failure's reason shown in the summary.
REASON_CHARS = 160


@dataclass
class Selection:
    """The configuration chosen on validation: its selection metric (``objective``) and the
    test metrics it reports, each as (mean, CI half-width, n) over its completed seeds."""

    trial_id: str | None
    config: dict[str, Any] = field(default_factory=dict)
    objective: tuple[float, float, int] = (math.nan, math.nan, 0)
    test: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    seeds: list[str] = field(default_factory=list)


def counts(study: Study) -> dict[str, int]:
    """Trials per status (every status present, zeros included)."""
    found = study.trials["status"].value_counts()
    return {s: int(found.get(s, 0)) for s in STATUSES}


def failures(study: Study) -> pd.DataFrame:
    """Trials that failed at least once (retried ones too), failed ones first: ``trial_id``,
    ``status``, ``epochs``, ``failures`` and ``failure`` (the last reason)."""
    t = study.trials
    hit = t[(t["failures"] > 0) | (t["status"] == "failed")]
    hit = hit.sort_values("status", key=lambda s: s != "failed", kind="stable")
    return hit[["trial_id", "status", "epochs", "failures", "failure"]].reset_index(drop=True)


def failure_lines(study: Study, limit: int = FAILURE_LINES) -> list[str]:
    """One line per trial that failed at least once: its fate, how often, and why."""
    hit = failures(study)
    out = []
    for row in hit.head(limit).itertuples():
        times = f"{row.failures} failure{'s' if row.failures != 1 else ''}"
        if row.status == "failed":
            head = f"trial {row.trial_id} failed" + (f" ({times})" if row.failures > 1 else "")
        else:
            head = f"trial {row.trial_id} {row.status} after {times}"
        reason = str(row.failure or "unknown")
        if len(reason) > REASON_CHARS:
            reason = reason[:REASON_CHARS - 1] + "…"
        out.append(f"{head}: {reason}")
    if len(hit) > limit:
        out.append(f"… and {len(hit) - limit} more trials with failures (the report lists all)")
    return out


def compute_seconds(study: Study) -> float:
    """Trial time summed over trials (``time_total_s`` of each trial's last epoch)."""
    return float(study.trials["compute_s"].fillna(0).sum())


def wall_seconds(study: Study) -> float:
    """Wall clock from the first trial start to the last result (from result timestamps)."""
    ep = study.epochs
    if ep.empty or "timestamp" not in ep:
        return math.nan
    stamps = pd.to_numeric(ep["timestamp"], errors="coerce")
    total = pd.to_numeric(ep.get("time_total_s", pd.Series(0.0, index=ep.index)),
                          errors="coerce").fillna(0)
    start = (stamps - total).min()
    return float(stamps.max() - start) if np.isfinite(start) else math.nan


def selection(study: Study) -> Selection:
    """Best by validation among completed trials; with repeats, over the best configuration's
    completed seeds."""
    best = study.best_trial()
    if best is None:
        return Selection(None)
    trial_id = str(best["trial_id"])
    config = {p: best[p] for p in study.params if p in best}
    rows = pd.DataFrame([best])
    if study.repeats > 1:
        key = config_key(study)
        rows = same_configuration(study.completed(), key, [best[col] for col in key])
    objective = mean_ci(rows[study.selection_metric].astype(float))
    test = {m: mean_ci(rows[m].astype(float)) for m in TEST_METRICS
            if m in rows and rows[m].notna().any()}
    return Selection(trial_id, config, objective, test, list(rows["trial_id"]))


def lines(study: Study) -> list[str]:
    """The summary as short lines (what ``study.run`` prints and report.md lists)."""
    c = counts(study)
    sel = selection(study)
    out = [f"trials: {len(study.trials)} ({c['completed']} completed, {c['stopped']} stopped "
           f"early by ASHA, {c['failed']} failed, {c['incomplete']} incomplete)"]
    out += failure_lines(study)
    wall = wall_seconds(study)
    out.append(f"compute: {compute_seconds(study):.1f} s of trial time"
               + (f", {wall:.1f} s wall clock" if np.isfinite(wall) else ""))
    if sel.trial_id is None:
        out.append("best: none (no trial completed all epochs)")
        return out
    # a conditional parameter this configuration did not sample is NaN in the table
    config = ", ".join(f"{k}={fmt_value(v)}" for k, v in sel.config.items()
                       if not (isinstance(v, float) and np.isnan(v))) or "every value fixed"
    mean, half, n = sel.objective
    by = study.selection_metric
    if study.repeats > 1:
        out.append(f"best configuration (mean {by} over {n} seed(s)): {config}")
        out.append(f"best {by}: {fmt_mean_ci(mean, half, by)}; trials " + " ".join(sel.seeds))
    else:
        out.append(f"best trial: {sel.trial_id} ({by} {fmt_number(mean)}): {config}")
    if sel.test:
        out.append("its test metrics: " + ", ".join(
            f"{m.removeprefix('test_')} {fmt_mean_ci(v[0], v[1], m)}"
            for m, v in sel.test.items()))
    return out
