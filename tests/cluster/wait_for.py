"""Wait until a trial of a running gated study holds at a gate, its checkpoint known to Tune.

    python -m tests.cluster.wait_for STUDY_DIR GATE --epoch E [--host NAME] [--trial ID] \
        --driver PID

Prints ``TRIAL_ID NUMBER PID`` of a trial that waits before epoch E at the gate directory GATE
(tests/gated.py), on the node whose hostname is NAME (and is trial ID), once Tune's
experiment-state snapshot holds its checkpoint of epoch E-1: a study resumed after a kill
then continues it from there. Exits 1 when the driver PID ends first or after --timeout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tests.gated import running, snapshot, wait_until, waiting


def held(study: Path, gate: Path, epoch: int, host: str | None, trial: str | None
         ) -> dict[str, Any] | None:
    for w in waiting(gate):
        if (w["epoch"] == epoch and host in (None, w["hostname"])
                and trial in (None, w["trial_id"])
                and snapshot(study).get(w["trial_id"]) == ("RUNNING", epoch - 1)):
            return w
    return None


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("study", type=Path)
    p.add_argument("gate", type=Path)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--host")
    p.add_argument("--trial")
    p.add_argument("--driver", type=int, required=True)
    p.add_argument("--timeout", type=float, default=150.0)
    args = p.parse_args()
    what = (f"a trial{f' {args.trial}' if args.trial else ''} waited before epoch "
            f"{args.epoch}{f' on {args.host}' if args.host else ''}, its checkpoint of epoch "
            f"{args.epoch - 1} in Tune's snapshot")
    try:
        w = wait_until(lambda: held(args.study, args.gate, args.epoch, args.host, args.trial),
                       what, timeout=args.timeout, alive=lambda: running(args.driver))
    except AssertionError as err:
        print(err, file=sys.stderr)
        return 1
    print(w["trial_id"], w["number"], w["pid"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
