"""One printed line per figure: ``name: value (baseline value, ratio, target)``."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch


@dataclass
class Figure:
    """A measured figure against its baseline; ``higher`` says which direction is better."""

    name: str
    value: float
    baseline: float
    unit: str
    target: str
    ratio: float

    def line(self) -> str:
        return (f"{self.name}: {self.value:.3g} {self.unit} (baseline {self.baseline:.3g} "
                f"{self.unit}, ratio {self.ratio:.2f}x, target {self.target})")


def speedup(name: str, ours: float, baseline: float, unit: str, target: str) -> Figure:
    """A figure where smaller is better; the ratio is baseline / ours."""
    return Figure(name, ours, baseline, unit, target, baseline / ours if ours else float("inf"))


def fraction(name: str, ours: float, baseline: float, unit: str, target: str) -> Figure:
    """A figure reported as ours / baseline (e.g. cost relative to a baseline)."""
    return Figure(name, ours, baseline, unit, target, ours / baseline if baseline else float("inf"))


def machine() -> str:
    """One line describing where the figures come from."""
    import os

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {device}, torch {torch.__version__}, "
            f"threads {torch.get_num_threads()}")
