"""Wait until a trial of a running study reports an epoch on a given node (tests/cluster/*.sh).

    python wait_for.py STUDY_DIR --host NAME [--min-epoch N] [--trial ID] --driver PID

Reads the trials' result.json files (written by the study driver as results arrive) and
prints ``TRIAL_ID EPOCH`` of the first unfinished trial that reported epoch >= N while on
the node whose hostname is NAME. Exits 1 when the driver PID ends first or after --timeout.
Standard library only: it runs beside the study without competing for the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def rows(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            break  # the line the driver is writing right now
    return out


def find(study: Path, host: str, min_epoch: int, trial: str | None) -> dict | None:
    for path in sorted(study.glob("*/result.json")):
        for row in rows(path):
            if trial and row.get("trial_id") != trial:
                break
            if (row.get("hostname") == host and row.get("epoch", 0) >= min_epoch
                    and not row.get("done")):
                return row
    return None


def alive(pid: int) -> bool:
    """Whether PID runs (an exited child of the script stays a zombie until it is reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("study", type=Path)
    p.add_argument("--host", required=True)
    p.add_argument("--min-epoch", type=int, default=1)
    p.add_argument("--trial")
    p.add_argument("--driver", type=int, required=True)
    p.add_argument("--timeout", type=float, default=150.0)
    args = p.parse_args()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        row = find(args.study, args.host, args.min_epoch, args.trial)
        if row is not None:
            print(row["trial_id"], row["epoch"])
            return 0
        if not alive(args.driver):
            print(f"the study driver ended before a trial reported epoch >= {args.min_epoch} "
                  f"on {args.host}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"no trial reported epoch >= {args.min_epoch} on {args.host} within "
          f"{args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
