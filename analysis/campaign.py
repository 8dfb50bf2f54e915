"""``python -m analysis.campaign DIR``: a campaign's comparison with the report it reproduces.

One row per line of the report's table (``campaign.json`` in ``DIR``, written by
``study.reproduce``), with these columns:

- ``report``: the report's own figure (its source is in the CSV);
- ``faithful``: the faithful study's configuration selected on validation among the row's
  trials, its test figure as mean [95 % CI] over seeds (``analysis.intervals``);
- ``searched``: the searched study's best configuration on validation, re-run once per
  seed (the rerun study): mean [95 % CI];
- ``anchor``: a published figure, where one exists.

The CSV keeps the numbers as the trials reported them and the ids of the trials behind each
cell, so every number can be traced to its trial files. Markdown, LaTeX and a bar chart with
the CIs (``comparison.png``) go beside it in ``DIR/comparison/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures, summary, tables
from analysis.intervals import MIN_N, mean_ci
from analysis.results import Study, load
from analysis.tables import CI, Table
from core.cli import OneLineParser, command
from core.errors import ExitCode, StudyError
from core.layout import CAMPAIGN_MANIFEST as MANIFEST

OUT_DIR = "comparison"


@dataclass
class Figure:
    """A cell: mean, CI half-width, seeds, and the trials it comes from."""

    mean: float = math.nan
    ci: float = math.nan
    seeds: int = 0
    trials: tuple[str, ...] = ()


@dataclass
class Written:
    table: Table
    markdown: str
    files: list[Path]


def figure(study: Study | None, metric: str, where: dict[str, Any]) -> Figure:
    """The test ``metric`` of the configuration selected on validation among the study's
    trials that match ``where`` (mean and CI over its completed seeds)."""
    if study is None:
        return Figure()
    trials = study.trials
    for key, value in where.items():
        if key in trials:
            trials = trials[trials[key] == value]
        elif study.constants.get(key) != value:
            return Figure()
    chosen = summary.selection(dataclasses.replace(study, trials=trials))
    if chosen.trial_id is None or metric not in trials:
        return Figure()
    values = trials.set_index("trial_id").loc[chosen.seeds, metric].astype(float)
    mean, half, n = mean_ci(values)
    return Figure(mean, half, n, tuple(chosen.seeds))


def comparison(folder: str | Path) -> Table:
    """The campaign's comparison table (StudyError when ``folder`` is not a campaign)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    studies: dict[str, Study | None] = {}

    def study(name: str) -> Study | None:
        if name not in studies:
            try:
                studies[name] = load(folder / name)
            except StudyError:
                studies[name] = None
        return studies[name]

    rows = []
    for row in manifest["rows"]:
        faithful_study = study(f"{row['study']}-faithful")
        faithful = figure(faithful_study, row["metric"], row.get("where") or {})
        searched = figure(study(f"{row['study']}-rerun"), row["metric"], {})
        protocol = faithful_study.constants.get("protocol", "") if faithful_study else ""
        rows.append({
            "row": row["label"], "metric": row["metric"], "protocol": protocol,
            "report": _number(row.get("report")),
            "faithful mean": faithful.mean, f"faithful {CI}": faithful.ci,
            "faithful seeds": faithful.seeds,
            "searched mean": searched.mean, f"searched {CI}": searched.ci,
            "searched seeds": searched.seeds,
            "anchor": _number(row.get("anchor")),
            "report source": row.get("source", ""), "anchor source": row.get("anchor_source", ""),
            "faithful trials": " ".join(faithful.trials),
            "searched trials": " ".join(searched.trials)})
    numeric = pd.DataFrame(rows)
    if not numeric["protocol"].astype(bool).any():
        numeric = numeric.drop(columns="protocol")
    shown = numeric.drop(columns=["report source", "anchor source", "faithful trials",
                                  "searched trials", "faithful seeds", "searched seeds"])
    display = tables.display_frame(shown, params=["row", "metric", "protocol"])
    seeds = sorted({n for n in numeric["faithful seeds"] if n} |
                   {n for n in numeric["searched seeds"] if n})
    note = (f"{manifest['title']}. Test figures selected on validation; mean [95 % CI] over "
            f"{'/'.join(map(str, seeds)) or 'no'} seeds, no interval below {MIN_N} (the CSV "
            "has the trial ids and sources).")
    return Table("comparison", f"{manifest['report']} — reproduced and searched", numeric,
                 display, note)


def write(folder: str | Path, formats: tuple[str, ...] = tables.FORMATS) -> Written:
    """Write ``comparison.{md,csv,tex}`` and ``comparison.png`` into ``folder/comparison``."""
    table = comparison(folder)
    out = Path(folder) / OUT_DIR
    files = tables.write(table, out, formats)
    files.append(figures.comparison_bars(table.numeric, out / "comparison.png",
                                         table.title))
    markdown = f"{table.title}\n\n{tables.to_markdown(table.display)}\n\n{table.note}"
    return Written(table, markdown, files)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StudyError(f"{folder}: no {MANIFEST}; is this a campaign directory?") from None
    except ValueError as err:
        raise StudyError(f"{path}: unreadable ({err})") from None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m analysis.campaign",
                      description="A campaign's comparison with the report it reproduces.")
    p.add_argument("campaign_dir", metavar="DIR",
                   help="a campaign's directory (<storage>/REPORT-BUDGET)")
    p.add_argument("--format", default=",".join(tables.FORMATS),
                   help="table files to write (default all: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    return command(parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    written = write(args.campaign_dir, tuple(tables.parse_formats(args.format)))
    print(written.markdown + "\n\n" + "\n".join(f"written: {p}" for p in written.files))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
