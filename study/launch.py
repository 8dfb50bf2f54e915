"""StudySpec -> Ray Tune: Tuner with OptunaSearch, ASHA/FIFO, resources, storage, resume."""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Repeater, Searcher
from ray.tune.search.optuna import OptunaSearch

from study import data as datasets
from study import interrupt, registry, storage
from study.errors import StudyError
from study.guard import StudyGuard
from study.space import FixedSpace, check_fixed
from study.spec import SPEC_FILE, StudySpec
from study.splits import Splits

logger = logging.getLogger(__name__)

#: Tune's saved Tuner: a study that has it can be resumed.
TUNER_FILE = "tuner.pkl"
#: Files that mark a directory as a study (so --overwrite never deletes anything else).
STUDY_MARKERS = (SPEC_FILE, TUNER_FILE)
#: Seconds to wait for a TCP answer from ``--address HOST:PORT`` before calling it dead.
CONNECT_TIMEOUT_S = 10.0


def check_storage(spec: StudySpec) -> None:
    """Enforce the rules for the study directory: writable storage, no silent overwrite,
    ``--resume`` only of a study that started, ``--overwrite`` only of a study.

    Deletes nothing: :func:`clear_for_overwrite` does, once everything else has passed.
    """
    problem = storage.unwritable(spec.study_dir)
    if problem:
        raise StudyError(f"--storage {spec.storage}: {problem}")
    exists = storage.exists(spec.study_dir)
    if spec.resume:
        if not exists:
            raise StudyError(f"--resume: no study at {spec.study_dir}")
        if not storage.exists(f"{spec.study_dir}/{TUNER_FILE}"):
            raise StudyError(f"--resume: {spec.study_dir} has no {TUNER_FILE} (the study "
                             "never started running); start it again with --overwrite")
        return
    if not exists:
        return
    if not spec.overwrite:
        raise StudyError(f"study directory {spec.study_dir} exists; pass --resume to continue "
                         "it or --overwrite to replace it")
    if storage.is_uri(spec.study_dir):
        raise StudyError("--overwrite works on local storage only; pick another --name")
    study_dir = Path(spec.study_dir)
    if study_dir.is_symlink() or not study_dir.is_dir():
        raise StudyError(f"--overwrite: {study_dir} is a link or a file, not a study "
                         "directory; refusing to delete it")
    if not any((study_dir / m).exists() for m in STUDY_MARKERS):
        raise StudyError(f"--overwrite: {study_dir} does not look like a study directory; "
                         "refusing to delete it")


def check_resources(spec: StudySpec) -> None:
    """A Ray this command started has the machine's fixed resources: refuse a trial that
    could never be placed on it. A cluster (``--address``) may autoscale instead; there
    :class:`~study.guard.StudyGuard` waits ``--pending-timeout`` and then gives up."""
    if spec.address is not None:
        return
    have = ray.cluster_resources()
    for key, asked in (("CPU", spec.cpus_per_trial), ("GPU", spec.gpus_per_trial)):
        if asked > have.get(key, 0.0):
            flag = f"--{key.lower()}s-per-trial"
            raise StudyError(f"{flag} {asked:g}: this machine has {have.get(key, 0.0):g} "
                             f"{key}s for Ray, so no trial could ever start (a cluster "
                             "joined with --address can add nodes)")


def clear_for_overwrite(spec: StudySpec) -> None:
    """Delete the earlier study of the same name (``--overwrite``, already checked)."""
    if spec.overwrite and not spec.resume and Path(spec.study_dir).exists():
        logger.info("--overwrite: deleting the earlier study %s", spec.study_dir)
        shutil.rmtree(spec.study_dir)


def load_data(spec: StudySpec) -> Splits:
    """The study's dataset, loaded once on the driver."""
    return datasets.load(spec.dataset, spec.data_dir, split_ratio=spec.split_ratio,
                         val_fraction=spec.val_fraction, seed=spec.seed, download=spec.download,
                         image_size=spec.image_size, grayscale=spec.grayscale)


def config_constants(spec: StudySpec, method: registry.Method) -> dict[str, Any]:
    """Values every trial's config carries besides the sampled ones."""
    constants = {**method_defaults(method), "max_epochs": spec.max_epochs, "seed": spec.seed,
                 "val_fraction": spec.val_fraction, "precision": spec.precision,
                 "compile": spec.compile}
    if spec.reproducible:
        constants["deterministic"] = True
    return constants


def method_defaults(method: registry.Method) -> dict[str, Any]:
    """Non-searched config keys a method's trainable reads, with their defaults."""
    from trainables.loop import LOOP_DEFAULTS

    return {**LOOP_DEFAULTS, **method.space_module().DEFAULTS}


def checked_fixed(spec: StudySpec, method: registry.Method) -> dict[str, Any]:
    """The spec's ``--set`` values validated against the method's space and defaults."""
    return check_fixed(space_function(spec, method), spec.fixed, method_defaults(method))


def space_function(spec: StudySpec, method: registry.Method) -> Any:
    module = method.space_module()
    if spec.preset is None:
        return module.space
    if spec.preset not in module.PRESETS:
        raise StudyError(f"--preset {spec.preset!r}: {method.name} has "
                         f"{', '.join(module.PRESETS) or 'no presets'}")
    return module.PRESETS[spec.preset]


def make_searcher(spec: StudySpec, method: registry.Method, fixed: dict[str, Any]
                  ) -> Searcher:
    """OptunaSearch (TPE seeded with the report's best point, or random) over the space."""
    space = FixedSpace(space_function(spec, method), fixed, config_constants(spec, method))
    if spec.searcher == "random":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=spec.seed)
        points = None
    else:
        # TPE samples at random until n_startup_trials finished (10 by default): too many for
        # a 16- or 24-trial study, so model the space after a quarter of the budget.
        startup = max(3, min(10, spec.num_samples // 4))
        sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=startup)
        points = start_points(spec, method) or None
    searcher: Searcher = OptunaSearch(space=space, metric=method.metric, mode=method.mode,
                                      sampler=sampler, points_to_evaluate=points)
    if spec.repeats > 1:
        searcher = Repeater(searcher, repeat=spec.repeats, set_index=True)
    return searcher


def start_points(spec: StudySpec, method: registry.Method) -> list[dict[str, Any]]:
    """The method's START_POINTS that its space (or ``--preset``) can produce: a preset
    reproducing one report need not hold another report's best point (Optuna would refuse
    to enqueue it)."""
    space = space_function(spec, method)
    inside = []
    for point in getattr(method.space_module(), "START_POINTS", None) or []:
        try:
            check_fixed(space, point, method_defaults(method))
        except StudyError:
            logger.info("start point %s lies outside this space; skipped", point)
            continue
        inside.append(point)
    return inside


def make_scheduler(spec: StudySpec, method: registry.Method) -> TrialScheduler:
    if spec.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
                         grace_period=min(method.grace_period, spec.max_epochs),
                         # The loop ends its trial after max_epochs itself; stopping it at
                         # max_t would cut off a trial that diverged in its last epoch
                         # before it could fail (trainables.faults).
                         reduction_factor=3, stop_last_trials=False)


def trainable_for(spec: StudySpec, method: registry.Method, splits: Splits) -> Any:
    """The method's trainable with the data in the object store and its resources set."""
    return tune.with_resources(tune.with_parameters(method.load_trainable(), data=splits),
                               resources(spec))


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


def check_reachable(address: str) -> None:
    """Fail fast when nothing listens at ``HOST:PORT`` (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # "auto" or a Ray client URI: Ray answers those quickly itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise StudyError(f"--address {address}: nothing answers there "
                         f"({err.strerror or err})") from None


def fit(spec: StudySpec) -> tune.ResultGrid:
    """Run (or resume) the study described by ``spec`` and return Tune's results."""
    # Tune snapshots its experiment state whenever a trial saved num_to_keep checkpoints
    # since the last snapshot; with checkpoint_every_s=0 that is every other epoch, which
    # is cheap locally: silence the warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # TensorBoard tags cannot hold "@": tensorboardX logs val_acc@5 as val_acc_5 and warns
    # once per tag and trial. The mapping is documented in the README; keep the log clean.
    logging.getLogger("tensorboardX.summary").setLevel(logging.ERROR)
    logging.getLogger("ray.tune.tune").addFilter(_no_tune_resume_advice)
    method = registry.get(spec.method)
    fixed = checked_fixed(spec, method)
    check_storage(spec)
    if spec.address is not None:
        check_reachable(spec.address)
    splits = load_data(spec)
    interrupt.check()
    init_ray(spec)
    check_resources(spec)
    interrupt.check()
    clear_for_overwrite(spec)
    trainable = trainable_for(spec, method, splits)
    if spec.resume:
        # Trials that failed for good (retries spent, or diverged) stay failed.
        tuner = tune.Tuner.restore(spec.study_dir, trainable=trainable, resume_unfinished=True,
                                   resume_errored=False)
    else:
        _write_spec(spec)
        tuner = new_tuner(spec, method, trainable, fixed)
    return tuner.fit()


def unfinished(spec: StudySpec, results: tune.ResultGrid) -> bool:
    """Whether ``fit`` returned before the study's end: on Ctrl-C, Tune stops its trials,
    saves its state and returns what it has."""
    ended = results.num_terminated + results.num_errors
    return ended < len(results) or len(results) < spec.num_samples * spec.repeats


def _no_tune_resume_advice(record: logging.LogRecord) -> bool:
    """Drop Tune's "Resume experiment with: Tuner.restore(...)": study.run prints its own
    ``--resume`` command instead."""
    return "Tuner.restore(" not in record.getMessage()


def new_tuner(spec: StudySpec, method: registry.Method, trainable: Any, fixed: dict[str, Any],
              *, reuse_actors: bool = True, verbose: int = 1) -> tune.Tuner:
    """A fresh Tuner for the study (the keywords let the benchmarks run plain or quiet)."""
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=method.metric, mode=method.mode,
            search_alg=make_searcher(spec, method, fixed),
            scheduler=make_scheduler(spec, method),
            num_samples=spec.num_samples * spec.repeats,
            # --reproducible: one trial at a time, so TPE sees results in a fixed order.
            max_concurrent_trials=1 if spec.reproducible else spec.max_concurrent,
            reuse_actors=reuse_actors,
            trial_dirname_creator=trial_dirname),
        run_config=run_config(spec, verbose))


def _write_spec(spec: StudySpec) -> None:
    storage.write_text(f"{spec.study_dir}/{SPEC_FILE}", spec.to_json())
