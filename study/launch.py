"""A study on Ray Tune: the checks, the data, Ray, then a Tuner built from the study's plan.

:func:`fit` runs (or resumes) a study; :func:`build_tuner` is the same door without the
final ``fit``, for the benchmarks that time it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Repeater, SearchAlgorithm, Searcher

from core import storage
from core.defaults import ASHA_REDUCTION_FACTOR
from core.errors import StudyError
from core.layout import REPEAT_KEY, SPEC_FILE
from core.splits import Splits
from study import data as datasets
from study import interrupt, preflight, registry, trackers
from study.guard import StudyGuard
from study.journal import JournalOptunaSearch, study_storage
from study.plan import StudyPlan, resolve
from study.space import FixedSpace
from study.spec import StudySpec
from study.tensorboard import StudyBoard, TrialDirname, run_names

logger = logging.getLogger(__name__)


def fit(spec: StudySpec) -> tune.ResultGrid:
    """Run (or resume) the study described by ``spec`` and return Tune's results."""
    return build_tuner(spec).fit()


def build_tuner(spec: StudySpec, *, splits: Splits | None = None, reuse_actors: bool = True,
                verbose: int = 1) -> tune.Tuner:
    """Everything before ``Tuner.fit``: resolve and check the study, load its data (or take
    ``splits``), start or join Ray, replace an earlier study (``--overwrite``, only now), and
    build a new Tuner or restore the saved one (``--resume``)."""
    _quiet_logs()
    plan = resolve(spec)
    preflight.check_storage(spec)
    if spec.address is not None:
        preflight.check_reachable(spec.address)
    if splits is None:
        splits = datasets.load_for(spec)
    preflight.check_fixed_resplit(splits, plan.fixed, spec)
    interrupt.check()
    init_ray(spec)
    preflight.check_resources(spec)
    interrupt.check()
    preflight.clear_for_overwrite(spec)
    trainable = trainable_for(plan, splits)
    if spec.resume:
        # Trials that failed for good (retries spent, or diverged) stay failed.
        return tune.Tuner.restore(spec.study_dir, trainable=trainable, resume_unfinished=True,
                                  resume_errored=False)
    storage.write_text(f"{spec.study_dir}/{SPEC_FILE}", spec.to_json())
    return new_tuner(plan, trainable, reuse_actors=reuse_actors, verbose=verbose)


def unfinished(spec: StudySpec, results: tune.ResultGrid) -> bool:
    """Whether ``fit`` returned before the study's end: on Ctrl-C, Tune stops its trials,
    saves its state and returns what it has. A running trial it stops that way ends
    TERMINATED, as a finished one does: one that ended without an error before its last
    epoch, and not on one of ASHA's rungs (counted in the method's ``time_attr``), was cut
    short."""
    ended = results.num_terminated + results.num_errors
    if ended < len(results) or len(results) < spec.num_samples * spec.repeats:
        return True
    from analysis.results import asha_rungs

    method = registry.get(spec.method)
    rungs = (asha_rungs(method.grace_period, spec.max_epochs)
             if spec.scheduler == "asha" else set())
    for result in results:
        metrics = result.metrics or {}
        epochs = metrics.get("training_iteration", 0)
        if (result.error is None and epochs < spec.max_epochs
                and metrics.get(method.time_attr, 0) not in rungs):
            return True
    return False


def init_ray(spec: StudySpec) -> None:
    """Start a local Ray, or join the cluster at ``--address``."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=spec.address, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as err:
        raise StudyError(f"--address {spec.address}: cannot reach a Ray cluster ({err}); a "
                         "cluster with token authentication needs RAY_AUTH_MODE=token and its "
                         "token in ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN"
                         ) from None


def new_tuner(plan: StudyPlan, trainable: Any, *, reuse_actors: bool = True,
              verbose: int = 1) -> tune.Tuner:
    """A fresh Tuner for the study (the keywords let the benchmarks run plain or quiet)."""
    spec, method = plan.spec, plan.method
    return tune.Tuner(
        trainable,
        param_space=grid_space(plan) if plan.grid else None,
        tune_config=tune.TuneConfig(
            metric=plan.objective, mode=method.mode,
            search_alg=make_searcher(plan),
            scheduler=make_scheduler(plan),
            num_samples=spec.num_samples * spec.repeats,
            # A grid's generator limits itself (Tune ignores this for one, with a warning).
            max_concurrent_trials=None if plan.grid else concurrency(spec),
            time_budget_s=spec.time_budget,
            reuse_actors=reuse_actors,
            trial_dirname_creator=trial_dirname(plan)),
        run_config=run_config(plan, verbose))


def grid_space(plan: StudyPlan) -> dict[str, Any]:
    """What a grid's points are laid over: the constants and fixed values, and every grid
    key (Tune wants each point's keys in the space; None where a sub-grid lacks one)."""
    keys = {key: None for point in plan.grid for key in point}
    return {**keys, REPEAT_KEY: 0, **plan.constants, **plan.fixed}


def concurrency(spec: StudySpec) -> int | None:
    """Trials at once: one with ``--reproducible`` (TPE sees results in a fixed order), else
    ``--max-concurrent`` (None: as many as the resources allow)."""
    return 1 if spec.reproducible else spec.max_concurrent


def make_searcher(plan: StudyPlan) -> SearchAlgorithm | Searcher:
    """OptunaSearch (TPE seeded with the report's best point, or random) over the space, its
    Optuna study named after the study and kept in the study's journal (study.journal); a
    preset's grid, each point once per seed (``__trial_index__`` as ``--repeats`` sets it)."""
    spec = plan.spec
    if plan.grid:
        return BasicVariantGenerator(max_concurrent=concurrency(spec) or 0, points_to_evaluate=[
            {**point, REPEAT_KEY: r} for point in plan.grid for r in range(spec.repeats)])
    space = FixedSpace(plan.space, plan.fixed, plan.constants)
    if spec.searcher == "random":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=spec.seed)
        points = None
    else:
        # TPE samples at random until n_startup_trials finished (10 by default): too many for
        # a 16- or 24-trial study, so model the space after a quarter of the budget.
        startup = max(3, min(10, spec.num_samples // 4))
        sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=startup)
        points = [dict(p) for p in plan.start_points] or None
    searcher: Searcher = JournalOptunaSearch(
        space=space, metric=plan.objective, mode=plan.method.mode, sampler=sampler,
        points_to_evaluate=points, study_name=spec.name,
        storage=study_storage(spec.study_dir))
    if spec.repeats > 1:
        searcher = Repeater(searcher, repeat=spec.repeats, set_index=True)
    return searcher


def make_scheduler(plan: StudyPlan) -> TrialScheduler:
    spec = plan.spec
    if spec.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr=plan.method.time_attr, max_t=spec.max_epochs,
                         grace_period=min(plan.method.grace_period, spec.max_epochs),
                         reduction_factor=ASHA_REDUCTION_FACTOR,
                         # The loop ends its trial after max_epochs itself; stopping it at
                         # max_t would cut off a trial that diverged in its last epoch
                         # before it could fail (trainables.faults).
                         stop_last_trials=False)


def trainable_for(plan: StudyPlan, splits: Splits) -> Any:
    """The method's trainable with the data in the object store and its resources set."""
    return tune.with_resources(tune.with_parameters(plan.method.load_trainable(), data=splits),
                               resources(plan.spec))


def resources(spec: StudySpec) -> dict[str, float]:
    """What one trial asks Ray for."""
    return {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}


def trial_dirname(plan: StudyPlan) -> TrialDirname:
    """Tune's ``trial_dirname_creator``: trial directories, and so TensorBoard's runs, named
    by their searched values (``train_vae_dense-l122-k3-lr0.0012_1a2b3c4d``); the whole
    config lives in params.json."""
    return TrialDirname(run_names(plan))


def run_config(plan: StudyPlan, verbose: int = 1) -> tune.RunConfig:
    """Where and how the study runs; Tune's JSON and CSV result files, and StudyBoard in
    place of Tune's TensorBoard logger (``_quiet_logs`` keeps Tune from adding its own)."""
    from trainables.faults import NoRetryOnDivergence

    spec = plan.spec
    guard = StudyGuard(spec.study_dir, resources(spec), spec.pending_timeout)
    loggers = [JsonLoggerCallback(), CSVLoggerCallback(), StudyBoard.for_plan(plan)]
    return tune.RunConfig(
        callbacks=[guard, NoRetryOnDivergence(), *loggers, *trackers.callbacks(spec)],
        name=spec.name, storage_path=spec.storage,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # Keep two: with one, every trial's final checkpoint forces an experiment-state
        # snapshot (0.62 s vs 0.35 s of Tune overhead a trial in bench/tune_overhead.py).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        verbose=verbose)


def _quiet_logs() -> None:
    # Tune snapshots its experiment state whenever a trial saved num_to_keep checkpoints
    # since the last snapshot; with checkpoint_every_s=0 that is every other epoch, which
    # is cheap locally: silence the warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune adds its own TensorBoard logger (every result key as ray/tune/<key>) and prints
    # "tensorboard --logdir <its staging directory>" unless its automatic loggers are off
    # (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS, Ray's documented switch): run_config names the
    # JSON and CSV loggers and StudyBoard itself, and study.run prints the study's command.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    logging.getLogger("ray.tune.tune").addFilter(_no_tune_resume_advice)


def _no_tune_resume_advice(record: logging.LogRecord) -> bool:
    """Drop Tune's "Resume experiment with: Tuner.restore(...)": study.run prints its own
    ``--resume`` command instead."""
    return "Tuner.restore(" not in record.getMessage()
