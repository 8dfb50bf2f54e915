"""`StudyGuard`: a Tune callback that ends a study which cannot go on, with one clear line.

Two such situations:

- **Resources that never come.** Trials wait (PENDING) and none runs, for longer than
  ``--pending-timeout``: on a cluster whose autoscaler cannot add the node a trial asks for,
  Tune would wait forever. The guard says once what it waits for, then gives up.
- **Storage that can no longer be written.** When a trial fails or is about to be retried,
  the guard checks that the study directory still takes new files; if not, every further
  trial would fail the same way, so it stops the study at Tune's next step.

It raises :class:`~core.errors.StudyAborted` out of ``Tuner.fit`` (exit code 5) from
``on_step_begin``, the one hook whose exceptions Tune passes on as they are: the experiment
state written so far stays, so ``--resume`` continues once the cause is fixed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ray.tune import Callback

from core import storage
from core.errors import StudyAborted
from study import interrupt

logger = logging.getLogger(__name__)

#: Seconds of waiting after which the guard says what the trials wait for.
NOTICE_S = 30.0


class StudyGuard(Callback):
    """Stops the study when no trial could start for ``pending_timeout`` seconds, or when
    ``study_dir`` stops taking new files. ``request`` describes one trial's resources."""

    def __init__(self, study_dir: str, request: dict[str, float], pending_timeout: float
                 ) -> None:
        self.study_dir, self.request, self.pending_timeout = study_dir, request, pending_timeout
        self._waiting_since: float | None = None
        self._told = False
        self._storage_problem: str | None = None

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        interrupt.hand_to_tune()
        if self._storage_problem:
            raise StudyAborted(f"the study directory can no longer be written "
                               f"({self._storage_problem}); what was written is kept: fix "
                               "it, then --resume")
        statuses = {t.status for t in trials}
        if "RUNNING" in statuses or "PENDING" not in statuses:
            self._waiting_since, self._told = None, False
            return
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        waited = now - self._waiting_since
        if waited >= NOTICE_S and not self._told:
            self._told = True
            logger.warning("waiting for resources: each trial asks for %s; free now: %s "
                           "(giving up after --pending-timeout %.0f s)", self._asked(),
                           _free(), self.pending_timeout)
        if waited >= self.pending_timeout:
            raise StudyAborted(
                f"no trial could start within --pending-timeout {self.pending_timeout:.0f} s: "
                f"each asks for {self._asked()}, and the cluster has {_free()} free; add "
                "nodes or ask for less, then --resume")

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any
                         ) -> None:
        self._check_storage()

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any
                       ) -> None:
        self._check_storage()

    def _check_storage(self) -> None:
        self._storage_problem = storage.unwritable(self.study_dir)

    def _asked(self) -> str:
        return ", ".join(f"{v:g} {k.upper()}" for k, v in self.request.items() if v) or "nothing"


def _free() -> str:
    import ray

    free = ray.available_resources()
    return ", ".join(f"{free.get(k, 0):g} {k}" for k in ("CPU", "GPU"))
