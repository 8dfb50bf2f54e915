"""Typed settings: a trial's config dict unpacked once, with defaults and validation here.

A method declares what its trial reads as a frozen dataclass of :class:`Settings` (in its
torch-free search-space module, next to ``space``), like scikit-learn's estimator
parameters. Fields without a default must be in the config (sampled values, the budget); a
field with a default is a constant the trial reads besides them (the module's ``DEFAULTS``,
fixable with ``--set``), except a default of None, which marks a parameter only some
branches of the space sample, and a :func:`searched` one: a sampled parameter whose default
is what a config without it gets (a preset's point, a direct caller), never a constant over
the sampled value. ``Annotated[str, OneOf(names)]`` restricts a string to names.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class Knn(Settings):
...     n_neighbors: int
...     metric: Annotated[str, OneOf(("euclidean", "cosine"))] = "euclidean"
...     k_max: int = 50
>>> Knn.from_config({"n_neighbors": 5.0, "seed": 0})
Knn(n_neighbors=5, metric='euclidean', k_max=50)
>>> Knn.defaults()
{'metric': 'euclidean', 'k_max': 50}
>>> Knn.choices()
{'metric': ('euclidean', 'cosine')}
>>> Knn.from_config({"n_neighbors": 5, "metric": "manhattan"})
Traceback (most recent call last):
ValueError: Knn: metric must be one of euclidean, cosine, got 'manhattan'
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

_S = TypeVar("_S", bound="Settings")


@dataclass(frozen=True)
class OneOf:
    """The names a string setting may take (``Annotated[str, OneOf(names)]``)."""

    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Base of the typed settings; a field's ``metadata["key"]`` names its config key when
    that differs from the field name."""

    @classmethod
    def from_config(cls: type[_S], config: Mapping[str, Any]) -> _S:
        """The declared keys of ``config``, cast to their types (other keys are ignored);
        ValueError naming the parameter for a missing or bad value."""
        hints = typing.get_type_hints(cls, include_extras=True)
        values = {}
        for f in dataclasses.fields(cls):
            key = f.metadata.get("key", f.name)
            if key in config:
                values[f.name] = _cast(config[key], hints[f.name], f"{cls.__name__}: {key}")
            elif f.default is dataclasses.MISSING:
                raise ValueError(f"{cls.__name__}: {key} is missing from the config")
        return cls(**values)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The constants: fields whose default is not None nor :func:`searched` (a search
        space's ``DEFAULTS``)."""
        return {f.metadata.get("key", f.name): f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING and f.default is not None
                and not f.metadata.get("searched")}

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        """The names each ``OneOf`` string may take, by config key (a search space's
        ``CHOICES``: ``--set`` values of its constants are checked against them)."""
        hints = typing.get_type_hints(cls, include_extras=True)
        return {f.metadata.get("key", f.name): names for f in dataclasses.fields(cls)
                if (names := _one_of(hints[f.name])) is not None}

    def require(self, name: str, when: str) -> None:
        """ValueError unless the parameter ``name``, None by default, was given ``when``."""
        if getattr(self, name) is None:
            raise ValueError(f"{type(self).__name__}: {name} is needed {when}")


def searched(default: Any) -> Any:
    """A field the space samples, ``default`` where a config lacks it (not in ``defaults``)."""
    return dataclasses.field(default=default, metadata={"searched": True})


def _one_of(hint: Any) -> tuple[str, ...] | None:
    """The names of an ``Annotated[str, OneOf(names)]`` hint, else None."""
    if typing.get_origin(hint) is not Annotated:
        return None
    return next((e.names for e in typing.get_args(hint)[1:] if isinstance(e, OneOf)), None)


def _cast(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the type ``hint`` says (int, float, bool, str, optional, one of names)."""
    choices = _one_of(hint)
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        if value is None:
            return None
        (hint,) = (t for t in typing.get_args(hint) if t is not type(None))
    if hint is bool and isinstance(value, (bool, numbers.Integral)) and value in (0, 1):
        return bool(value)
    if hint is int and _number(value) and float(value).is_integer():
        return int(value)
    if hint is float and _number(value):
        return float(value)
    if hint is str and isinstance(value, str) and (choices is None or value in choices):
        return value
    wanted = {bool: "true or false", int: "an integer", float: "a number",
              str: "a string"}[hint]
    if choices is not None:
        wanted = f"one of {', '.join(choices)}"
    raise ValueError(f"{name} must be {wanted}, got {value!r}")


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
