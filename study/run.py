"""Command line: ``python -m study.run METHOD [options]`` runs one hyperparameter study."""

from __future__ import annotations

from study import interrupt

if __name__ == "__main__":  # Ctrl-C during the imports below is noted, not raised there
    interrupt.note_from_now()

import argparse
import dataclasses
import logging
import shlex
import sys
import time

from core import storage
from core.cli import OneLineParser, exit_code
from core.errors import ExitCode, StudyError
from core.layout import TUNER_FILE
from study.options import SPEC_DEFAULTS, add_placement_options
from study.registry import METHODS
from study.spec import (
    PRECISIONS,
    build,
    format_duration,
    load_saved,
    parse_duration,
    read_config,
)

logger = logging.getLogger("study")

TOP_TRIALS = 5


def methods_epilog() -> str:
    """The registered methods, one line each: name, report and what it is."""
    width = max(map(len, METHODS))
    return "methods:\n" + "\n".join(
        f"  {m.name:<{width}}  report{'s' * (',' in m.report)} {m.report}: {m.summary}"
        for m in METHODS.values())


def parser() -> argparse.ArgumentParser:
    d = SPEC_DEFAULTS
    p = OneLineParser(
        prog="python -m study.run", argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=methods_epilog(),
        description="Run a Ray Tune + Optuna hyperparameter study of one method.")
    p.add_argument("method", nargs="?", help="registered method (listed below)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", help=f"{d['dataset']} (default, embedded), mnist, "
                      "fashion_mnist, "
                      "cifar10, a MedMNIST 2D flag such as breastmnist, or image_folder")
    data.add_argument("--data-dir", help="where real datasets live (or are downloaded to)")
    data.add_argument("--download", action="store_true", help="allow downloading (online only)")
    data.add_argument("--image-size", type=int, help="resize images to this size")
    data.add_argument("--grayscale", action="store_true", help="convert images to one channel")
    data.add_argument("--split-ratio", type=float,
                      help="test fraction for sets without a test split "
                           f"(default {d['split_ratio']:g})")
    data.add_argument("--val-fraction", type=float,
                      help=f"validation fraction carved from train (default {d['val_fraction']:g})")
    data.add_argument("--train-fraction", type=float,
                      help="train on this stratified fraction of the training images "
                           f"(default {d['train_fraction']:g}; quick budgets on large sets)")
    search = p.add_argument_group("search")
    search.add_argument("--num-samples", type=int,
                        help=f"configurations to try (default {d['num_samples']})")
    search.add_argument("--max-epochs", type=int,
                        help=f"epochs per trial (default {d['max_epochs']})")
    search.add_argument("--scheduler", choices=["asha", "fifo"],
                        help="asha stops weak trials early (the default for a search); fifo "
                             "runs every trial to the end (the default with --repeats above 1 "
                             "or --preset)")
    search.add_argument("--searcher", choices=["optuna", "random"],
                        help="optuna: TPE, first trying the reports' own configurations "
                             "(default); random: random sampling (a --preset runs its grid)")
    search.add_argument("--preset", help="a named space reproducing a report's grid")
    search.add_argument("--set", dest="fixed", action="append", metavar="KEY=VALUE",
                        help="fix a search-space value (repeatable)")
    search.add_argument("--config", dest="config_path", metavar="STUDY.yaml",
                        help="YAML file with these options (`set:` for fixed values)")
    search.add_argument("--best-of", metavar="STUDY_DIR",
                        help="rerun that study's best configuration on validation: its "
                             "method, data and budget with every value its best trial ran "
                             "with fixed, FIFO, as the study STUDY_DIR-best beside it; the "
                             "other options given go on top (e.g. --repeats 3, --max-epochs)")
    search.add_argument("--repeats", type=int,
                        help=f"seeds per configuration (default {d['repeats']})")
    search.add_argument("--time-budget", metavar="DURATION",
                        help="stop the study after this long, e.g. 45m or 2h: no trial starts "
                             "after it and running ones stop (Tune's time_budget_s)")
    search.add_argument("--seed", type=int, help=f"study seed (default {d['seed']})")
    search.add_argument("--reproducible", action="store_true",
                        help="one trial at a time, deterministic torch: reruns give the same "
                             "trials (on the same machine)")
    res = p.add_argument_group("resources")
    add_placement_options(res)
    res.add_argument("--max-failures", type=int,
                     help=f"retries of a failed trial (default {d['max_failures']})")
    res.add_argument("--pending-timeout", metavar="DURATION",
                     help="give up when no trial could start for this long, e.g. 15m "
                          f"(default {d['pending_timeout'] / 60:g}m)")
    res.add_argument("--precision", choices=PRECISIONS,
                     help=f"autocast: {d['precision']} (default) is bf16 on a CUDA GPU, fp32 on "
                          "CPU")
    res.add_argument("--compile", action="store_true",
                     help="torch.compile each trial's models (for long GPU trials)")
    out = p.add_argument_group("results")
    out.add_argument("--storage", help=f"results root, local dir or URI (default ./{d['storage']})")
    out.add_argument("--name", help="study name (default METHOD-DATASET-TIMESTAMP)")
    out.add_argument("--resume", action="store_true", help="continue the study --name")
    out.add_argument("--overwrite", action="store_true", help="replace the study --name")
    out.add_argument("--no-report", dest="report", action="store_false",
                     help="skip the analysis report at the end")
    out.add_argument("--mlflow", metavar="URI",
                     help="also log every trial to MLflow at this tracking URI, e.g. "
                          "sqlite:///mlflow.db (the mlflow extra)")
    out.add_argument("--wandb", metavar="PROJECT",
                     help="also log every trial to this Weights & Biases project (the wandb "
                          "extra)")
    return p


#: Options ``--resume`` takes; everything else is the saved study's and cannot change
#: (``--mlflow`` and ``--wandb`` too: Tune restores the study's callbacks with its Tuner).
RESUME_OPTIONS = {"name", "storage", "address", "report", "pending_timeout", "resume"}


def spec_from_argv(argv: list[str]):
    """Parse argv into a validated StudySpec (a resumed study reuses its saved spec)."""
    from study.space import parse_assignment  # imports optuna: after Ctrl-C is deferred

    args = vars(parser().parse_args(argv))
    args["fixed"] = dict(parse_assignment(a) for a in args.get("fixed", []))
    config_path = args.pop("config_path", None)
    if "best_of" in args:
        return _best_of_spec(args, config_path)
    if not args.get("resume"):
        return build(args, config_path)
    if "name" not in args:
        raise StudyError("--resume needs --name of the study to continue")
    given = sorted(set(args) - RESUME_OPTIONS - {"fixed", "method"})
    given = (["config"] if config_path else []) + (["set"] if args["fixed"] else []) + given
    if given:
        raise StudyError(f"--resume continues {args['name']} as it was started: "
                         f"--{given[0].replace('_', '-')} cannot change (start a new --name "
                         "for other settings)")
    root = storage.resolve(args.get("storage", SPEC_DEFAULTS["storage"]))
    saved = load_saved(f"{root.rstrip('/')}/{args['name']}")
    if args.get("method", saved.method) != saved.method:
        raise StudyError(f"--resume: {args['name']} is a {saved.method} study, not "
                         f"{args['method']}")
    if "pending_timeout" in args:
        args["pending_timeout"] = parse_duration(args["pending_timeout"], "--pending-timeout")
    changes = {k: args[k] for k in ("name", "address", "storage", "pending_timeout", "report")
               if k in args}
    return dataclasses.replace(saved, resume=True, overwrite=False, **changes).validate()


def _best_of_spec(args: dict, config_path: str | None):
    """The spec of ``--best-of``: the source study's best configuration, under the study
    file's and the command line's options."""
    from study.best import best_of

    source = args.pop("best_of")
    file = read_config(config_path) if config_path else {}
    given = {**file, **args, "fixed": {**file.get("fixed", {}), **args.get("fixed", {})}}
    for option, reason in (("resume", "it starts a new study"),
                           ("preset", "it reruns one configuration, not a report's grid")):
        if given.get(option):
            raise StudyError(f"--best-of {source}: drop --{option} ({reason})")
    base = best_of(source, given["fixed"])
    spec = build(args, config_path, base=base)
    if spec.method != base["method"]:
        raise StudyError(f"--best-of {source}: a {base['method']} study, not {spec.method}")
    return spec


def resume_command(spec) -> str:
    """The command that continues ``spec``'s study."""
    words = ["python", "-m", "study.run", "--name", spec.name, "--storage", spec.storage]
    if spec.address:
        words += ["--address", spec.address]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"])


def print_summary(spec, study) -> None:
    """Top trials by the study's objective, its summary, the results path and the
    TensorBoard command; ``study`` is the analysis of the results directory (the report's
    source too, so both give the same counts)."""
    from analysis import summary

    if study is not None:
        by = study.selection_metric
        top = study.ranked(by=by).head(TOP_TRIALS)
        columns = ["trial_id", *study.params, "epochs", study.metric, by,
                   *(["test_acc"] if "test_acc" in top else [])]
        if not top.empty:
            import pandas as pd

            print(f"\nTop {len(top)} trials by {by} (test_acc only for trials that "
                  f"ran all {spec.max_epochs} epochs):")
            with pd.option_context("display.width", 200, "display.max_columns", 30,
                                   "display.float_format", "{:.4g}".format):
                print(top[[c for c in dict.fromkeys(columns) if c in top]].to_string(index=False))
        print("\n" + "\n".join(summary.lines(study)))
    print(f"\nresults:     {spec.study_dir}")
    print(f"tensorboard: tensorboard --logdir {spec.study_dir}")


def outcome(spec, results, study) -> ExitCode:
    """The exit code of a study that ran to its end, from the trials' final states."""
    if study is not None:
        from analysis import summary

        counts = summary.counts(study)
        failed, good = counts["failed"], counts["completed"] + counts["stopped"]
    else:  # cloud storage: Tune's own account
        failed, good = results.num_errors, len(results) - results.num_errors
    if good == 0:
        return ExitCode.NO_RESULT
    return ExitCode.TRIALS_FAILED if failed else ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    with interrupt.deferred():
        return exit_code(lambda: _run(sys.argv[1:] if argv is None else argv))


def driver_logging() -> None:
    """The driver's log: our lines plain, Optuna's per-trial chatter off."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _run(argv: list[str]) -> int:
    driver_logging()
    spec = spec_from_argv(argv)
    interrupt.check()
    from study import launch

    started = time.monotonic()
    try:
        results = launch.fit(spec)
    except KeyboardInterrupt:
        results = None
    out_of_time = spec.time_budget is not None and (
        time.monotonic() - started >= spec.time_budget)
    interrupted = results is None or (launch.unfinished(spec, results) and not out_of_time)
    if out_of_time and results is not None:
        print(f"time budget of {format_duration(spec.time_budget)} spent: {len(results)} "
              f"of {spec.num_samples * spec.repeats} trials started")
    study = read_results(spec)
    print_summary(spec, study)
    if spec.report and study is not None:
        print_report(spec)
    if interrupted:
        if storage.exists(f"{spec.study_dir}/{TUNER_FILE}"):
            print(f"interrupted; continue with: {resume_command(spec)}", file=sys.stderr)
        else:
            print("interrupted before the study started", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return outcome(spec, results, study)


def read_results(spec):
    """The analysis's view of a local study's results (None for cloud storage or when no
    trial has written anything yet)."""
    if storage.is_uri(spec.study_dir):
        print("report:      skipped for cloud storage; run python -m analysis.report on a copy")
        return None
    from analysis import results

    try:
        return results.load(spec.study_dir)
    except StudyError:
        return None


def print_report(spec) -> None:
    """Write ``<study_dir>/report/report.md`` and print its path. The study is done by now:
    a failed report is one warning line, never an error."""
    try:
        from analysis.report import write_report

        report = write_report(spec.study_dir)
    except Exception as err:
        logger.warning("report: not written (%s: %s)", type(err).__name__, err)
        return
    print(f"report:      {report.path}")


if __name__ == "__main__":
    sys.exit(main())
