"""``python -m bench [--quick] [--only SECTION ...]``: the figures of BENCHMARKS.md, each
against a baseline run in the same process."""

from __future__ import annotations

import argparse
import importlib
import logging

from bench.report import machine

SECTIONS = ("knn", "trial_speed", "tune_overhead", "search", "gpu_packing")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes, under 10 minutes")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                   metavar="SECTION",
                   help=f"run only these sections, of {', '.join(SECTIONS)} (default all; "
                        "gpu_packing measures only on a GPU)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine()}  mode: {'quick' if args.quick else 'full'}", flush=True)
    for name in args.only:
        for figure in importlib.import_module(f"bench.{name}").run(args.quick):
            print(figure.line(), flush=True)


if __name__ == "__main__":
    main()
