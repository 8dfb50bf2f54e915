"""Shared fixtures: one local Ray for the in-process studies of the whole session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_local():
    """A 2-CPU local Ray shared by all in-process study tests."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def digits():
    """The embedded digits set's splits, loaded once."""
    from study import data

    return data.load("digits")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread, as in a 1-CPU trial: far faster on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def trial_dir(tmp_path, monkeypatch):
    """What Tune's context answers as the trial directory, outside Tune."""
    from types import SimpleNamespace

    from ray import tune

    monkeypatch.setattr(tune, "get_context",
                        lambda: SimpleNamespace(get_trial_dir=lambda: str(tmp_path)))
    return tmp_path


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
    """``python -m study.run ARGS`` in a subprocess, output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "study.run", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or ROOT, env=env)


def sampled_configs(plan, draws: int = 40, seed: int = 0) -> list[dict]:
    """Trial configs drawn at random from ``plan``'s space, the sampled values and the
    returned constants merged as Ray's OptunaSearch merges them."""
    import optuna

    from study.space import FixedSpace

    space = FixedSpace(plan.space, plan.fixed, plan.constants)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(draws):
        trial = study.ask()
        returned = space(trial)  # samples into trial.params
        configs.append({**trial.params, **returned})
    return configs
