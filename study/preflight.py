"""Checks that run before anything is started or deleted: storage, cluster, resources.

Each raises a one-line :class:`~core.errors.StudyError`. Only :func:`clear_for_overwrite`
deletes, and the driver calls it after every check has passed.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray

from core import storage
from core.errors import StudyError
from core.layout import STUDY_MARKERS, TUNER_FILE
from core.splits import Splits
from study.spec import StudySpec

logger = logging.getLogger(__name__)

#: Seconds to wait for a TCP answer from ``--address HOST:PORT`` before calling it dead.
CONNECT_TIMEOUT_S = 10.0


def check_storage(spec: StudySpec) -> None:
    """Enforce the rules for the study directory: writable storage, no silent overwrite,
    ``--resume`` only of a study that started, ``--overwrite`` only of a study."""
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


def check_fixed_resplit(splits: Splits, fixed: Mapping[str, Any], spec: StudySpec) -> None:
    """A ``--set split_ratio`` that leaves some class out of a split fails every trial:
    refuse it now (a sampled split ratio can only fail in its trial)."""
    if "split_ratio" not in fixed:
        return
    try:
        splits.resplit(float(fixed["split_ratio"]), spec.val_fraction, spec.seed)
    except ValueError as err:
        raise StudyError(f"--set split_ratio={fixed['split_ratio']}: {err}") from None


def clear_for_overwrite(spec: StudySpec) -> None:
    """Delete the earlier study of the same name (``--overwrite``, already checked)."""
    if spec.overwrite and not spec.resume and Path(spec.study_dir).exists():
        logger.info("--overwrite: deleting the earlier study %s", spec.study_dir)
        shutil.rmtree(spec.study_dir)
