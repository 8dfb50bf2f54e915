"""``gated_vae``, a test-only method: ``vae_knn`` whose trials hold at gates a test controls.

Kill/resume tests use it to make a kill land mid-study by construction, never by racing a
sleep. With ``--set gate=DIR`` a trial waits before epoch E while ``DIR/epoch<E>`` (every
trial) or ``DIR/trial<N>-epoch<E>`` (the N-th trial to start, from 0) exists, and
``DIR/waiting-<trial id>-epoch<E>`` (JSON: trial id, number, epoch, hostname, pid) says
so. Deleting the file opens the gate; after a kill, only once that pid has ended, lest the
killed trial train on beside its resumed self. The study CLI with the method registered:

    python -m tests.gated gated_vae --set gate=DIR --num-samples 3 --max-epochs 5
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from core.splits import Splits
from search_spaces import vae_knn
from study.registry import Method
from trainables import loop
from trainables.knn import VaeKnnTask

METHOD = Method("gated_vae", "tests.gated:train_gated", "tests.gated", "test",
                "vae_knn whose trials hold at gate files (kill/resume tests)")
# The search-space module of gated_vae: vae_knn's, plus the gate directory.
space, PRESETS, START_POINTS = vae_knn.space, vae_knn.PRESETS, vae_knn.START_POINTS
DEFAULTS: dict[str, Any] = {**vae_knn.DEFAULTS, "gate": ""}
CHOICES = vae_knn.CHOICES


def trial_number(gate: Path, trial_id: str) -> int:
    """The trial's number in the order trials first started (from 0), kept across restores."""
    for n in itertools.count():
        path = gate / f"started-{n}"
        try:
            with path.open("x") as f:
                f.write(trial_id)
            return n
        except FileExistsError:
            if path.read_text() == trial_id:
                return n
    raise AssertionError("unreachable")


class GatedVaeKnnTask(VaeKnnTask):
    """:class:`VaeKnnTask` that waits at the gate's closed files before an epoch."""

    def __init__(self, config: dict[str, Any], *args: Any) -> None:
        super().__init__(config, *args)
        self.gate = Path(config["gate"]) if config.get("gate") else None
        self.trial_id = tune.get_context().get_trial_id()
        self.number = trial_number(self.gate, self.trial_id) if self.gate else -1

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if self.gate is not None:
            self.hold(self.gate, epoch)
        return super().train_epoch(epoch)

    def hold(self, gate: Path, epoch: int) -> None:
        closed = [gate / f"epoch{epoch}", gate / f"trial{self.number}-epoch{epoch}"]
        if not any(p.exists() for p in closed):
            return
        marker = gate / f"waiting-{self.trial_id}-epoch{epoch}"
        write_atomic(marker, json.dumps({"trial_id": self.trial_id, "number": self.number,
                                         "epoch": epoch, "hostname": socket.gethostname(),
                                         "pid": os.getpid()}))
        while any(p.exists() for p in closed):
            time.sleep(0.1)
        marker.unlink()


def train_gated(config: dict[str, Any], data: Splits) -> None:
    """The gated_vae trainable."""
    loop.run(config, data, GatedVaeKnnTask)


# --- the test's side ------------------------------------------------------------------------

def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def waiting(gate: Path) -> list[dict[str, Any]]:
    """The trials waiting at a closed gate now (or killed while waiting)."""
    return [json.loads(p.read_text()) for p in sorted(gate.glob("waiting-*"))]


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has ended: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def snapshot(study: Path) -> dict[str, tuple[str, int | None]]:
    """Trial id -> (status, epoch of its latest checkpoint) in Tune's newest experiment-state
    snapshot, the state a ``--resume`` starts from; empty while none is readable."""
    from ray.tune.utils.serialization import _loads_with_cloudpickle

    paths = sorted(study.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    try:
        trials = json.loads(paths[-1].read_text())["trial_data"] if paths else []
    except (OSError, ValueError):  # being written right now
        return {}
    out = {}
    for trial_json, runtime_json in trials:
        trial, runtime = json.loads(trial_json), _loads_with_cloudpickle(runtime_json)
        latest = runtime["checkpoint_manager"].latest_checkpoint_result
        out[trial["trial_id"]] = (trial["status"], latest.metrics["epoch"] if latest else None)
    return out


def wait_until(condition: Callable[[], Any], what: str, *, timeout: float = 240,
               alive: Callable[[], bool] = lambda: True) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that; fail naming
    ``what`` after ``timeout`` seconds or once ``alive()`` is false."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if not alive():
            raise AssertionError(f"the study ended before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)
    return value


if __name__ == "__main__":
    from study import registry, run

    registry.METHODS[METHOD.name] = METHOD
    sys.exit(run.main())
