"""``python -m analysis.report STUDY_DIR [--out DIR] [--format md,csv,tex]``: one study's report.

Writes ``report.md`` (summary, leaderboard, importances, marginal tables, grids, the selected
trial's test-split report, figures) into ``--out`` (default ``STUDY_DIR/report``), every table
also as ``tables/NAME.{csv,md,tex}`` and every figure as ``figures/NAME.png``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis import figures, importance, summary, tables
from analysis.results import Study, load
from analysis.tables import Table
from study.errors import ExitCode, exit_code

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
DEFAULT_FORMATS = ("md", "csv")
TOP = 10
CURVES = 5
GRID_PARAMS = 3


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    path: Path
    summary: list[str]
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_report(study_dir: str | Path, out: str | Path | None = None,
                 formats: Sequence[str] = DEFAULT_FORMATS, top: int = TOP,
                 latent_walk: bool = True) -> Report:
    """Analyse ``study_dir`` and write ``report.md`` plus tables and figures into ``out``."""
    study = load(study_dir)
    out_dir = Path(out) if out is not None else study.path / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    table_dir, figure_dir = out_dir / "tables", out_dir / "figures"
    report = Report(out_dir / REPORT_FILE, summary.lines(study))
    md = _Markdown(out_dir)

    def add(table: Table | None, level: int = 3) -> None:
        if table is None or table.numeric.empty:
            return
        tables.write(table, table_dir, formats)
        report.tables[table.name] = table
        md.table(table, level)

    def figure(name: str, path: Path | None, caption: str) -> None:
        if path is not None:
            report.figures[name] = path
            md.figure(path, caption)

    started = time.monotonic()
    md.h(1, f"Study `{study.path.name}`: {study.method} on {study.dataset}")
    md.p(f"Objective: **{study.metric}** ({study.mode}) on the validation split. Selection "
         f"on validation: the best trial is the best final {study.metric} among trials that "
         f"ran all {study.max_epochs} epochs"
         + (f"; with {study.repeats} seeds per configuration, the configuration with the best "
            "mean over its completed seeds" if study.repeats > 1 else "")
         + ". Test metrics are reported for it, never used to choose. "
         "± is the 95 % t-interval over trials (or seeds).")

    md.h(2, "Summary")
    md.bullets(report.summary + _search_lines(study))
    if study.problems:
        md.h(3, "Problems found in the results")
        md.p("Unreadable or half-written files (e.g. a killed study); these trials are counted "
             "as incomplete and left out where their numbers are missing.")
        md.bullets(study.problems)
    _failures_section(study, add)

    if not study.trials[study.metric].notna().any():
        md.p(f"No trial has reported {study.metric} yet: nothing to tabulate.")
        report.path.write_text(md.text())
        return report

    md.h(2, "Leaderboard")
    if study.repeats > 1:
        add(tables.configurations(study, top))
    add(tables.leaderboard(study, top))

    md.h(2, "Hyperparameter importance")
    ranking, note = importance.fanova(study)
    if ranking is None:
        md.p(note)
        report.notes.append(note)
        important = list(study.params)
    else:
        imp = Table("importance", "fANOVA importance", ranking,
                    tables.display_frame(ranking), note)
        add(imp)
        figure("importance", figures.importances(ranking, figure_dir / "importance.png"),
               "fANOVA importances")
        important = list(ranking["hyperparameter"])

    md.h(2, "Marginal effects")
    if not study.params:
        md.p("No hyperparameter varies across the trials.")
    for p in study.params:
        add(tables.marginal(study, p))
    figure("objective_vs_params", figures.objective_vs_params(
        study, figure_dir / "objective_vs_params.png"),
        f"final {study.metric} against each hyperparameter")

    md.h(2, "Grids")
    kg = tables.k_grid(study)
    if kg is not None:
        add(kg)
        figure("k_grid", figures.k_grid_heatmap(kg.numeric, study.metric,
                                                figure_dir / "k_grid.png"),
               f"mean {study.metric}@k per latent_dim level and k")
    for a, b in itertools.combinations(important[:GRID_PARAMS], 2):
        add(tables.pair_grid(study, a, b))

    _test_section(study, md, add, figure, figure_dir)

    md.h(2, "Learning curves")
    top_ids, groups = _curve_series(study)
    figure("learning_curves", figures.learning_curves(
        study, figure_dir / "learning_curves.png", top_ids, groups),
        "learning curves of the top " + ("configurations (mean ± 95 % CI over seeds)"
                                         if groups else "trials"))
    if latent_walk:
        _latent_section(study, md, figure, figure_dir, report)

    md.p(f"Generated by `python -m analysis.report` in {time.monotonic() - started:.1f} s "
         f"from `{study.path}`.")
    report.path.write_text(md.text())
    logger.info("report written to %s", report.path)
    return report


def _failures_section(study: Study, add) -> None:
    """Every trial that failed at least once, its fate and the reason of its last failure."""
    failed = summary.failures(study)
    if failed.empty:
        return
    failed["failure"] = failed["failure"].fillna("unknown")
    note = ("Tune retries a failed trial from its last checkpoint, up to --max-failures times; "
            "a diverged one (a NaN or infinite loss) fails at once and is never retried. The "
            "reason is the last line of the failure's traceback in the trial's error.txt.")
    add(Table("failures", "Trials with failures", failed, failed.astype(str), note), level=2)


def _search_lines(study: Study) -> list[str]:
    spec = study.spec
    out = []
    if spec:
        out.append(f"search: {spec.get('searcher')} searcher, {spec.get('scheduler')} scheduler,"
                   f" {spec.get('num_samples')} samples × {study.repeats} seed(s), "
                   f"{study.max_epochs} epochs max"
                   + (f", preset {spec['preset']}" if spec.get("preset") else ""))
    if study.params:
        out.append("searched: " + ", ".join(study.params))
    if study.constants:
        out.append("fixed: " + ", ".join(f"{k}={tables.fmt_value(v)}"
                                         for k, v in sorted(study.constants.items())))
    return out


def _test_section(study: Study, md: _Markdown, add, figure, figure_dir: Path) -> None:
    best = study.best_trial()
    md.h(2, "Selected trial on the test split")
    if best is None:
        md.p("No trial completed all epochs, so there is no selected model to test.")
        return
    trial_id = str(best["trial_id"])
    pred = study.predictions(trial_id)
    if pred is None:
        md.p(f"Trial {trial_id} left no predictions.npz.")
        return
    y, scores = pred["y_true"], pred["scores"]
    classes = [str(c) for c in pred.get("classes", np.arange(scores.shape[1]))]
    md.p(f"Trial `{trial_id}` (selected on {study.metric}); {len(y)} test images.")
    add(tables.class_report(y, scores, classes))
    cm = tables.confusion(y, scores, classes)
    add(cm)
    matrix = cm.numeric.drop(columns=cm.numeric.columns[0]).to_numpy()
    figure("confusion", figures.confusion_matrix(matrix, classes, figure_dir / "confusion.png"),
           "confusion matrix of the selected trial (test split)")
    figure("roc", figures.roc_curve(y, scores, figure_dir / "roc.png"),
           "ROC curve of the selected trial (test split)")


def _curve_series(study: Study) -> tuple[list[str], list[list[str]] | None]:
    if study.repeats > 1:
        configs = tables.configurations(study, CURVES).numeric
        return [], [str(t).split() for t in configs["trials"]]
    ranked = tables.leaderboard(study, CURVES).numeric
    return [str(t) for t in ranked["trial_id"]], None


def _latent_section(study: Study, md: _Markdown, figure, figure_dir: Path,
                    report: Report) -> None:
    from analysis import latent

    best = study.best_trial()
    if study.method not in latent.VAE_METHODS or best is None:
        return
    md.h(2, "Latent space of the selected model")
    try:
        path, note = latent.walk(study, str(best["trial_id"]), figure_dir / "latent_walk.png")
    except Exception as err:  # a figure must not cost the report
        logger.warning("latent walk failed: %s", err)
        path, note = None, f"no latent walk: {type(err).__name__}: {err}"
    md.p(note)
    report.notes.append(note)
    figure("latent_walk", path, "decoded latent walk")


class _Markdown:
    """Accumulates report.md."""

    def __init__(self, root: Path) -> None:
        self.root, self.parts = root, []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"{'#' * level} {text}\n")

    def p(self, text: str) -> None:
        self.parts.append(f"{text}\n")

    def bullets(self, items: Sequence[str]) -> None:
        self.parts.append("\n".join(f"- {i}" for i in items) + "\n")

    def table(self, table: Table, level: int) -> None:
        self.h(level, table.title)
        if table.note:
            self.p(f"_{table.note}_")
        self.parts.append(tables.to_markdown(table.display) + "\n")

    def figure(self, path: Path, caption: str) -> None:
        self.parts.append(f"![{caption}]({path.relative_to(self.root).as_posix()})\n")

    def text(self) -> str:
        return "\n".join(self.parts)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.report",
                                description="Tables and figures of one study's results.")
    p.add_argument("study_dir", help="a study's results directory (<storage>/<name>)")
    p.add_argument("--out", help="output directory (default STUDY_DIR/report)")
    p.add_argument("--format", default=",".join(DEFAULT_FORMATS),
                   help="table files to write besides report.md: md,csv,tex (default md,csv)")
    p.add_argument("--top", type=int, default=TOP, help="leaderboard rows (default 10)")
    p.add_argument("--no-latent", action="store_true", help="skip the VAE latent walk")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = parser().parse_args(argv)

    def body() -> int:
        tables.check_out_dir(args.out)
        report = write_report(args.study_dir, args.out, tables.parse_formats(args.format),
                              top=max(1, args.top), latent_walk=not args.no_latent)
        print("\n".join(report.summary))
        print(f"report:      {report.path}")
        return ExitCode.OK

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
