"""``python -m analysis.compare STUDY_DIR... [--out DIR]``: one row per study.

Each row: method, dataset, trials (completed), the metric that selects (``metric``, ``mode``),
the selected configuration's value of it and its test accuracy / macro recall (balanced
accuracy: what an imbalanced set such as BreastMNIST needs) / F1 / AUC (mean and 95 % CI
over seeds with ``--repeats``, :mod:`analysis.intervals`), and compute time — e.g. PCA vs
Isomap vs AE vs VAE on one dataset, like report 004.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import summary, tables
from analysis.results import Study, load
from analysis.tables import Table
from core.cli import OneLineParser, command
from core.errors import ExitCode, StudyError

COMPARED = ("test_acc", "test_recall", "test_f1", "test_auc")


def row(study: Study) -> dict[str, object]:
    """The comparison row of one study (numbers as the trials reported them)."""
    counts = summary.counts(study)
    sel = summary.selection(study)
    out: dict[str, object] = {
        "study": study.path.name, "method": study.method, "dataset": study.dataset,
        "trials": len(study.trials), "completed": counts["completed"],
        "seeds": study.repeats, "metric": study.selection_metric, "mode": study.mode,
        "best trial": sel.trial_id or "–",
        "best val mean": sel.objective[0], f"best val {tables.CI}": sel.objective[1]}
    for m in COMPARED:
        mean, half, _n = sel.test.get(m, (math.nan, math.nan, 0))
        out[f"{m} mean"], out[f"{m} {tables.CI}"] = mean, half
    out["compute_s"] = summary.compute_seconds(study)
    return out


def compare(study_dirs: Sequence[str | Path]) -> Table:
    """The comparison table of several studies (StudyError if one is not a study)."""
    if not study_dirs:
        raise StudyError("no study directories given")
    numeric = pd.DataFrame([row(load(d)) for d in study_dirs])
    note = ("Each study's configuration selected on its validation objective; test metrics "
            "of that configuration (mean and 95 % CI over seeds when the study ran "
            "--repeats).")
    return Table("compare", "Studies compared", numeric, tables.display_frame(numeric), note)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m analysis.compare",
                                description="One table across several studies.")
    p.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR",
                   help="studies' results directories (<storage>/<name>)")
    p.add_argument("--out", help="write compare.{md,csv,...} into this directory")
    p.add_argument("--format", default="md,csv",
                   help=f"files to write with --out, of {','.join(tables.FORMATS)} "
                        "(default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    return command(parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    formats = tables.parse_formats(args.format)
    tables.check_out_dir(args.out)
    table = compare(args.study_dirs)
    print(tables.to_markdown(table.display))
    if args.out:
        for path in tables.write(table, Path(args.out), formats):
            print(f"wrote:       {path}")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
