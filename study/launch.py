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
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Repeater, SearchAlgorithm, Searcher
from ray.tune.search.optuna import OptunaSearch

from core import storage
from core.defaults import ASHA_REDUCTION_FACTOR
from core.errors import StudyError
from core.layout import REPEAT_KEY, SPEC_FILE
from core.splits import Splits
from study import data as datasets
from study import interrupt, preflight, registry
from study.guard import StudyGuard
from study.plan import StudyPlan, resolve
from study.space import FixedSpace
from study.spec import StudySpec

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
    epoch, and not on one of ASHA's rungs, was cut short."""
    ended = results.num_terminated + results.num_errors
    if ended < len(results) or len(results) < spec.num_samples * spec.repeats:
        return True
    from analysis.results import asha_rungs

    rungs = (asha_rungs(registry.get(spec.method).grace_period, spec.max_epochs)
             if spec.scheduler == "asha" else set())
    for result in results:
        epochs = (result.metrics or {}).get("training_iteration", 0)
        if result.error is None and epochs < spec.max_epochs and epochs not in rungs:
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
            metric=method.metric, mode=method.mode,
            search_alg=make_searcher(plan),
            scheduler=make_scheduler(plan),
            num_samples=spec.num_samples * spec.repeats,
            # --reproducible: one trial at a time, so TPE sees results in a fixed order.
            max_concurrent_trials=1 if spec.reproducible else spec.max_concurrent,
            time_budget_s=spec.time_budget,
            reuse_actors=reuse_actors,
            trial_dirname_creator=trial_dirname),
        run_config=run_config(spec, verbose))


def grid_space(plan: StudyPlan) -> dict[str, Any]:
    """What a grid's points are laid over: the constants and fixed values, and every grid
    key (Tune wants each point's keys in the space; None where a sub-grid lacks one)."""
    keys = {key: None for point in plan.grid for key in point}
    return {**keys, REPEAT_KEY: 0, **plan.constants, **plan.fixed}


def make_searcher(plan: StudyPlan) -> SearchAlgorithm | Searcher:
    """OptunaSearch (TPE seeded with the report's best point, or random) over the space; a
    preset's grid, each point once per seed (``__trial_index__`` as ``--repeats`` sets it)."""
    spec = plan.spec
    if plan.grid:
        return BasicVariantGenerator(points_to_evaluate=[
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
    searcher: Searcher = OptunaSearch(space=space, metric=plan.method.metric,
                                      mode=plan.method.mode, sampler=sampler,
                                      points_to_evaluate=points)
    if spec.repeats > 1:
        searcher = Repeater(searcher, repeat=spec.repeats, set_index=True)
    return searcher


def make_scheduler(plan: StudyPlan) -> TrialScheduler:
    spec = plan.spec
    if spec.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
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


def trial_dirname(trial: Any) -> str:
    """Short trial directories (``train_vae_1a2b3c4d``); the config lives in params.json."""
    return f"{trial.trainable_name}_{trial.trial_id}"


def run_config(spec: StudySpec, verbose: int = 1) -> tune.RunConfig:
    from trainables.faults import NoRetryOnDivergence

    guard = StudyGuard(spec.study_dir, resources(spec), spec.pending_timeout)
    return tune.RunConfig(
        callbacks=[guard, NoRetryOnDivergence()],
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
    # TensorBoard tags cannot hold "@": tensorboardX logs val_acc@5 as val_acc_5 and warns
    # once per tag and trial. The mapping is documented in the README; keep the log clean.
    logging.getLogger("tensorboardX.summary").setLevel(logging.ERROR)
    logging.getLogger("ray.tune.tune").addFilter(_no_tune_resume_advice)


def _no_tune_resume_advice(record: logging.LogRecord) -> bool:
    """Drop Tune's "Resume experiment with: Tuner.restore(...)": study.run prints its own
    ``--resume`` command instead."""
    return "Tuner.restore(" not in record.getMessage()
