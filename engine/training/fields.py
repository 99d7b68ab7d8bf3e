"""The checks a configuration's fields go through, one message each that names the field, the
value and what would do (:mod:`engine.training.config` applies them; ``setup`` checks the shapes
options with :func:`check_kind`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import KDLensError

__all__ = ["ConfigError", "check_keys", "check_kind", "check_positive", "check_required", "check_types"]


class ConfigError(KDLensError, ValueError):
    """A training configuration that cannot run; the message names the field and the fix."""


_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string"}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON true is not the number 1 here
        return False
    return isinstance(value, {"int": int, "float": (int, float), "str": str}[kind])


def check_types(part: Any, where: str) -> None:
    """Every plain field of the dataclass ``part`` holds a value of its annotated kind (a string in
    a number's place is named here, not met later as a TypeError deep in training)."""
    for f in dataclasses.fields(part):
        check_kind(f"{where}{f.name}", getattr(part, f.name), str(f.type))


def check_kind(name: str, value: Any, annotation: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` fits ``annotation`` (``int``, ``float | None``,
    ``tuple[float, float]``, ...); nested parts and mappings are left to their own checks."""
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None and "None" in kinds:
        return
    if len(kinds) == 1 and kinds[0].startswith("tuple["):
        inner = kinds[0][len("tuple[") : -1].split(",")[0].strip()
        if inner in _KINDS and not (
            isinstance(value, (list, tuple)) and all(_is_kind(v, inner) for v in value)
        ):
            raise ConfigError(f"{name} must be a list of {_KINDS[inner].removeprefix('a ')}s, got {value!r}")
        return
    simple = [k for k in kinds if k in _KINDS]
    if simple and not any(_is_kind(value, k) for k in simple):
        wanted = " or ".join(_KINDS[k] for k in simple) + (" or null" if "None" in kinds else "")
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")


def check_positive(name: str, value: float, alternative: str = "") -> None:
    if not (math.isfinite(value) and value > 0):
        also = f" {alternative}" if alternative else ""
        raise ConfigError(f"{name} must be a finite number above 0 (e.g. 0.05){also}, got {value!r}")


def check_required(kind: type, data: Mapping[str, Any], where: str) -> None:
    missing = [
        f.name
        for f in dataclasses.fields(kind)
        if f.name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        hint = ' (the architecture\'s name, e.g. "small_cnn")' if missing == ["arch"] else ""
        raise ConfigError(f"{where} has no {', '.join(missing)}{hint}; add it to the configuration")


def check_keys(kind: type, data: Mapping[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)} in {where}; known fields: {', '.join(sorted(known))}"
        )
