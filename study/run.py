"""Command line: ``python -m study.run METHOD [options]`` runs one hyperparameter study."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

from study.errors import StudyError
from study.space import parse_assignment
from study.spec import PRECISIONS, build, load_saved

logger = logging.getLogger("study")

TOP_TRIALS = 5


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit code 2, like StudyError."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see python -m study.run -h)\n")


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="python -m study.run", argument_default=argparse.SUPPRESS,
        description="Run a Ray Tune + Optuna hyperparameter study of one method.")
    p.add_argument("method", nargs="?", help="registered method, e.g. vae_knn")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", help="digits (default, embedded), mnist, fashion_mnist, "
                      "cifar10, a MedMNIST 2D flag such as breastmnist, or image_folder")
    data.add_argument("--data-dir", help="where real datasets live (or are downloaded to)")
    data.add_argument("--download", action="store_true", help="allow downloading (online only)")
    data.add_argument("--image-size", type=int, help="resize images to this size")
    data.add_argument("--grayscale", action="store_true", help="convert images to one channel")
    data.add_argument("--split-ratio", type=float,
                      help="test fraction for sets without a test split (default 0.2)")
    data.add_argument("--val-fraction", type=float,
                      help="validation fraction carved from train (default 0.2)")
    search = p.add_argument_group("search")
    search.add_argument("--num-samples", type=int, help="configurations to try (default 24)")
    search.add_argument("--max-epochs", type=int, help="epochs per trial (default 15)")
    search.add_argument("--scheduler", choices=["asha", "fifo"])
    search.add_argument("--searcher", choices=["optuna", "random"])
    search.add_argument("--preset", help="a named space reproducing a report's grid")
    search.add_argument("--set", dest="fixed", action="append", metavar="KEY=VALUE",
                        help="fix a search-space value (repeatable)")
    search.add_argument("--config", dest="config_path", metavar="STUDY.yaml",
                        help="YAML file with these options (`set:` for fixed values)")
    search.add_argument("--repeats", type=int, help="seeds per configuration (default 1)")
    search.add_argument("--seed", type=int, help="study seed (default 0)")
    res = p.add_argument_group("resources")
    res.add_argument("--cpus-per-trial", type=float)
    res.add_argument("--gpus-per-trial", type=float, help="fractions share a GPU, e.g. 0.5")
    res.add_argument("--max-concurrent", type=int)
    res.add_argument("--max-failures", type=int, help="retries of a failed trial (default 2)")
    res.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT")
    res.add_argument("--precision", choices=PRECISIONS,
                     help="autocast: auto (default) is bf16 on a CUDA GPU, fp32 on CPU")
    res.add_argument("--compile", action="store_true",
                     help="torch.compile each trial's models (for long GPU trials)")
    out = p.add_argument_group("results")
    out.add_argument("--storage", help="results root, local dir or URI (default ./studies)")
    out.add_argument("--name", help="study name (default METHOD-DATASET-TIMESTAMP)")
    out.add_argument("--resume", action="store_true", help="continue the study --name")
    out.add_argument("--overwrite", action="store_true", help="replace the study --name")
    out.add_argument("--no-report", dest="report", action="store_false",
                     help="skip the analysis report at the end")
    return p


def spec_from_argv(argv: list[str]):
    """Parse argv into a validated StudySpec (a resumed study reuses its saved spec)."""
    args = vars(parser().parse_args(argv))
    args["fixed"] = dict(parse_assignment(a) for a in args.get("fixed", []))
    config_path = args.pop("config_path", None)
    if args.get("resume"):
        if "name" not in args:
            raise StudyError("--resume needs --name of the study to continue")
        from study import storage

        root = args.get("storage", "studies")
        if not storage.is_uri(root):
            root = str(Path(root).expanduser().resolve())
        saved = load_saved(f"{root.rstrip('/')}/{args['name']}")
        saved.resume, saved.overwrite = True, False
        for key in ("address", "storage"):
            if key in args:
                setattr(saved, key, args[key])
        return saved.validate()
    return build(args, config_path)


def print_summary(spec, results) -> None:
    """Top trials by the method's objective, the results path and the TensorBoard command."""
    from study import registry
    from study.launch import config_constants

    method = registry.get(spec.method)
    hidden = {*config_constants(spec, method), "__trial_index__"}
    rows: list[dict[str, Any]] = []
    for result in results:
        metrics = result.metrics or {}
        if method.metric not in metrics:
            continue
        params = {k: v for k, v in result.config.items() if k not in hidden}
        rows.append({"trial": metrics.get("trial_id", "?"), **params,
                     "epochs": metrics.get("epoch"), method.metric: metrics[method.metric],
                     "test_acc": metrics.get("test_acc", math.nan)})
    reverse = method.mode == "max"
    rows.sort(key=lambda r: r[method.metric], reverse=reverse)
    errors = results.num_errors
    print(f"\n{len(rows)} trials reported, {errors} failed. Top {min(TOP_TRIALS, len(rows))} "
          f"by {method.metric} (test_acc only for trials that ran all {spec.max_epochs} epochs):")
    if rows:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 30,
                               "display.float_format", "{:.4g}".format):
            print(pd.DataFrame(rows[:TOP_TRIALS]).to_string(index=False))
    print(f"\nresults:     {spec.study_dir}")
    print(f"tensorboard: tensorboard --logdir {spec.study_dir}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        spec = spec_from_argv(sys.argv[1:] if argv is None else argv)
        from study.launch import fit

        results = fit(spec)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(spec, results)
    if spec.report:
        print_report(spec)
    return 0


def print_report(spec) -> None:
    """Write ``<study_dir>/report/report.md`` and print its summary and path (local storage
    only). The study is done by now: a failed report is one warning line, never an error."""
    from study.storage import is_uri

    if is_uri(spec.study_dir):
        print("report:      skipped for cloud storage; run python -m analysis.report on a copy")
        return
    try:
        from analysis.report import write_report

        report = write_report(spec.study_dir)
    except Exception as err:
        logger.warning("report: not written (%s: %s)", type(err).__name__, err)
        return
    print("\n" + "\n".join(report.summary))
    print(f"report:      {report.path}")


if __name__ == "__main__":
    sys.exit(main())
