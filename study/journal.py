"""The Optuna study of a searched study, as a journal beside Tune's results:
``<study dir>/optuna.journal``, which ``optuna-dashboard`` opens (README "Optuna dashboard")."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from core import storage
from core.layout import OPTUNA_JOURNAL

logger = logging.getLogger(__name__)


def study_storage(study_dir: str) -> JournalStorage | None:
    """The journal in ``study_dir``; None (Optuna's in-memory storage) for cloud storage,
    where no file can be appended to."""
    if storage.is_uri(study_dir):
        logger.info("optuna: the study is kept in memory (its journal needs a local --storage)")
        return None
    Path(study_dir).mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(f"{study_dir}/{OPTUNA_JOURNAL}"))


class JournalOptunaSearch(OptunaSearch):
    """OptunaSearch for a journal that can be ahead of Tune's saved state.

    Tune saves the searcher with its experiment state every few seconds; the journal records
    each step at once. After a driver killed in between, ``--resume`` meets trials that the
    journal finished but Tune runs again (the journal keeps their first value: Optuna cannot
    change a finished trial) and trials that the journal started but the saved searcher never
    recorded (marked failed). Tune writes its trials before its searcher, so a kill between
    the two resumes such a trial: it runs, its results stay in Tune's, TPE does not see them.
    """

    _rerun: frozenset[str] = frozenset()  # Tune trial ids whose Optuna trial has finished

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        known = {trial.number for trial in self._ot_trials.values()}
        for trial in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number not in known:
                self._ot_study.tell(trial.number, state=TrialState.FAIL)
        finished = {trial.number for trial in self._ot_study.get_trials(deepcopy=False)
                    if trial.state.is_finished()}
        self._rerun = frozenset(
            trial_id for trial_id, trial in self._ot_trials.items()
            if trial.number in finished and trial_id not in self._completed_trials)

    def _tells(self, trial_id: str) -> bool:
        """Whether Optuna hears of this trial: one the saved searcher asked, still running."""
        return trial_id in self._ot_trials and trial_id not in self._rerun

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if self._tells(trial_id):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        if self._tells(trial_id):
            super().on_trial_complete(trial_id, result, error)
