"""Search spaces as Ray's OptunaSearch wants them, with ``--set`` values fixed and checked.

A method's ``space(trial)`` is an Optuna define-by-run function. Fixing a parameter wraps
the trial so that ``suggest_*`` for that name returns the fixed value instead of sampling
it, after checking it against the very distribution the space asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from core.errors import StudyError

SpaceFn = Callable[[optuna.Trial], Any]


class _FixingTrial:
    """An Optuna trial whose fixed parameters are answered, not sampled."""

    def __init__(self, trial: Any, fixed: Mapping[str, Any], seen: set[str] | None = None
                 ) -> None:
        self._trial, self._fixed, self._seen = trial, fixed, seen

    def _note(self, name: str) -> None:
        if self._seen is not None:
            self._seen.add(name)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_float(name, low, high, step=step, log=log)
        value = self._fixed[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise StudyError(f"--set {name}={value!r}: expected a number in [{low}, {high}]")
        if not low <= value <= high:
            raise StudyError(f"--set {name}={value}: outside the space's range [{low}, {high}]")
        return float(value)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_int(name, low, high, step=step, log=log)
        value = self._fixed[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise StudyError(f"--set {name}={value!r}: expected an integer in [{low}, {high}]")
        if not low <= value <= high:
            raise StudyError(f"--set {name}={value}: outside the space's range [{low}, {high}]")
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_categorical(name, choices)
        value = self._fixed[name]
        if value not in choices:
            raise StudyError(f"--set {name}={value!r}: not one of {list(choices)}")
        return value

    def __getattr__(self, item: str) -> Any:
        return getattr(self._trial, item)


class FixedSpace:
    """The define-by-run function handed to OptunaSearch: samples the free parameters and
    returns the fixed ones plus the constants (epochs, seed, method defaults) as Tune config.

    A class rather than a closure because Tune pickles the searcher into its experiment
    state for ``--resume``.
    """

    def __init__(self, space: SpaceFn, fixed: Mapping[str, Any], constants: Mapping[str, Any]
                 ) -> None:
        self.space, self.fixed, self.constants = space, dict(fixed), dict(constants)

    def __call__(self, trial: Any) -> dict[str, Any]:
        self.space(_FixingTrial(trial, self.fixed))
        return {**self.constants, **self.fixed}


def check_fixed(space: SpaceFn, fixed: Mapping[str, Any], defaults: Mapping[str, Any],
                draws: int = 64) -> dict[str, Any]:
    """Validate ``--set`` values against the space (by sampling it) and the method defaults.

    Returns the fixed values with defaults' types applied; raises StudyError for a value
    outside its distribution, of the wrong type, or for a name the method does not know.
    """
    fixed = dict(fixed)
    for name, value in fixed.items():
        if name in defaults:
            fixed[name] = _coerce(name, value, defaults[name])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(draws):
        space(_FixingTrial(study.ask(), fixed, seen))
    unknown = sorted(set(fixed) - seen - set(defaults))
    if unknown:
        known = ", ".join(sorted(seen | set(defaults)))
        raise StudyError(f"--set {unknown[0]}: not a parameter of this method (known: {known})")
    return fixed


def _coerce(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StudyError(f"--set {name}={value!r}: expected {kind.__name__} like {default!r}")
    if kind in (int, float) and value < 0:
        raise StudyError(f"--set {name}={value}: must not be negative")
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"latent_dim=40"`` -> ``("latent_dim", 40)``: ints, floats, true/false, else string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise StudyError(f"--set {text!r}: expected KEY=VALUE")
    return name.strip(), parse_value(raw.strip())


def parse_value(raw: str) -> Any:
    """A command-line value as int, float, bool or string."""
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return raw
