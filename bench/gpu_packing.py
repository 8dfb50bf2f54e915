"""GPU packing: the same ``cnn`` trials at 1, 1/2 and 1/4 of a GPU each, on one GPU.

For each fraction a FIFO study runs identical report-002 CNN trials on CIFAR-10-shaped data
while a thread samples the GPU's utilisation (``nvidia-smi``). The figures are trial-epochs a
second against one trial per GPU, with the mean utilisation and the most trials that ran at
once. Needs a CUDA GPU; without one the section measures nothing and says so.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass

import torch

from analysis.results import most_at_once
from bench.report import Figure
from bench.studies import run_study
from bench.trial_speed import CNN_CONFIG, cifar_shaped
from study.spec import StudySpec

FRACTIONS = (1.0, 0.5, 0.25)
CPUS_PER_TRIAL = 2


def gpu_utilization() -> float | None:
    """GPU 0's utilisation in percent from nvidia-smi, None where it cannot be read."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                              "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        return float(out.split()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


class UtilizationSampler:
    """Samples :func:`gpu_utilization` every ``period`` seconds inside a ``with`` block."""

    def __init__(self, period: float = 0.5) -> None:
        self.period, self.samples = period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            value = gpu_utilization()
            if value is not None:
                self.samples.append(value)
            self._stop.wait(self.period)

    def __enter__(self) -> UtilizationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


@dataclass
class Packing:
    rate: float  # trial-epochs a second
    utilization: float  # mean percent
    peak: int  # most trials running at once


def packed_study(fraction: float, splits, trials: int, epochs: int, storage: str) -> Packing:
    """One FIFO study of identical cnn trials at ``fraction`` of a GPU each."""
    fixed = {**CNN_CONFIG, "split_ratio": 0.1}
    spec = StudySpec(method="cnn", num_samples=trials, max_epochs=epochs, scheduler="fifo",
                     searcher="random", fixed=fixed, gpus_per_trial=fraction,
                     cpus_per_trial=CPUS_PER_TRIAL, storage=storage,
                     name=f"gpu-{fraction}", report=False)
    with UtilizationSampler() as sampler:
        results, _, wall = run_study(spec, splits=splits)
    spans = []
    for result in results:
        frame = result.metrics_dataframe
        spans.append((float(frame["wall_time"].iloc[0] - frame["time_this_iter_s"].iloc[0]),
                      float(frame["wall_time"].iloc[-1])))
    return Packing(trials * epochs / wall, sampler.mean, most_at_once(spans))


def run(quick: bool) -> list[Figure]:
    if not torch.cuda.is_available():
        print("gpu_packing: no CUDA device here; nothing measured", flush=True)
        return []
    import ray

    n_train, n_test = (10_000, 2_000) if quick else (50_000, 10_000)
    trials, epochs = 8, 3
    splits = cifar_shaped(n_train, n_test)
    # With a searcher Tune keeps one trial pending at a time; packing needs more queued.
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", str(trials))
    ray.init(num_cpus=os.cpu_count(), num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            packed_study(1.0, splits, 2, 1, storage)  # warm-up: workers, CUDA context
            measured = {f: packed_study(f, splits, trials, epochs, storage) for f in FRACTIONS}
    finally:
        ray.shutdown()
    one = measured[1.0]
    shape = f"cnn, {trials} trials x {epochs} epochs, {n_train} train 3x32x32"
    return [Figure(f"gpu_packing_{round(1 / f)}_per_gpu ({shape}; utilisation "
                   f"{m.utilization:.0f}% vs {one.utilization:.0f}%, up to {m.peak} at once)",
                   m.rate, one.rate, "trial-epochs/s", "higher than 1 per GPU",
                   m.rate / one.rate)
            for f, m in measured.items() if f != 1.0]
