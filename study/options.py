"""Command-line options that ``study.run`` and ``study.reproduce`` share: where trials run
and how many CPUs and GPUs each takes, with the defaults of ``StudySpec``."""

from __future__ import annotations

import argparse
import dataclasses

from study.spec import StudySpec

#: StudySpec's defaults, which the command lines' help quotes.
SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StudySpec)
                 if f.default is not dataclasses.MISSING}


def add_placement_options(group: argparse._ActionsContainer) -> None:
    """``--cpus-per-trial``, ``--gpus-per-trial``, ``--max-concurrent`` and ``--address``."""
    group.add_argument("--cpus-per-trial", type=float,
                       help="CPUs each trial reserves; its torch threads are their whole "
                            "number, at least 1, unless OMP_NUM_THREADS is set (default "
                            f"{SPEC_DEFAULTS['cpus_per_trial']:g}; 0.5 packs two trials on a "
                            "core)")
    group.add_argument("--gpus-per-trial", type=float,
                       help=f"GPUs each trial reserves (default "
                            f"{SPEC_DEFAULTS['gpus_per_trial']:g}); fractions share a GPU, "
                            "e.g. 0.5")
    group.add_argument("--max-concurrent", type=int,
                       help="trials at once (default: as many as the CPUs and GPUs allow)")
    group.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT (default: "
                                         "RAY_ADDRESS's cluster, else one `ray start` began "
                                         "on this machine, else a new local Ray)")
