"""What an analysis checks before any work, and the normalisation it feeds the models.

Every option is checked up front, with the field, its flag, the value and the valid range. The
normalisation (mean/std) is never guessed silently: it is ``--mean/--std`` when given, else what
the checkpoints' cards state, else what the run folder a checkpoint sits in used; only when
nothing states it does the data's own statistics stand in, with a warning. The manifest records
which of these it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import KDLensError

__all__ = ["AnalyzeInputError", "Normalisation", "choose_normalisation", "parse_triple", "validate_analysis"]

IMAGE_SIZES = (8, 1024)  # as engine.training.config
MAX_SEED = 2**31 - 1
OBJECTIVES = ("label", "unique")


class AnalyzeInputError(KDLensError):
    """The checkpoints, data or options of an analysis do not fit together."""


def _flag(name: str) -> str:
    return f"{name} (--{name.replace('_', '-')})"


def _whole(config: Any, name: str, low: int, high: int | None = None, why: str = "") -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalyzeInputError(f"{_flag(name)} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise AnalyzeInputError(f"{_flag(name)} must be {limit}{why}, got {value}")


def validate_analysis(config: Any) -> None:
    """Check an :class:`engine.jobs.analyze.AnalyzeConfig` before any file is read."""
    for name in ("teacher", "student", "base", "data", "out"):
        value = getattr(config, name)
        if not isinstance(value, (str, Path)) or not str(value):
            raise AnalyzeInputError(f"{_flag(name)} must be a path, got {value!r}")
    _whole(config, "probe", 4, why=" (UniCAM needs a context batch of at least 4)")
    _whole(config, "metrics_n", 4, why=" (distance correlation needs n >= 4)")
    _whole(config, "repeats", 1, why=" (the subsamples behind the 5-95 % band)")
    _whole(config, "seed", 0, MAX_SEED)
    _whole(config, "localisation_n", 0)
    _whole(config, "faithfulness_n", 0)
    if config.image_size is not None:
        _whole(config, "image_size", *IMAGE_SIZES, why=" pixels")
    for name, value in (("model_file", config.model_file), ("embeddings", config.embeddings)):
        if value is None or (name == "embeddings" and value in ("one-hot", "onehot", "prototypes", "")):
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            raise AnalyzeInputError(f"{_flag(name)} {path} is a folder, not a file; give the file")
        if not path.is_file():
            raise AnalyzeInputError(f"{_flag(name)} {path} does not exist; check the path")
    if config.objective not in OBJECTIVES:
        raise AnalyzeInputError(f"{_flag('objective')} must be label or unique, got {config.objective!r}")
    if (config.mean is None) != (config.std is None):
        raise AnalyzeInputError("--mean and --std go together: give both (3 values each) or neither")
    if config.mean is not None:
        parse_triple(config.mean, "--mean")
        if min(parse_triple(config.std, "--std")) <= 0:
            raise AnalyzeInputError(f"--std values must be above 0, got {tuple(config.std)}")


def parse_triple(value: str | Sequence[float], flag: str) -> tuple[float, float, float]:
    """Three finite numbers (R, G, B) from ``"0.5,0.5,0.5"``, ``"0.5"`` (all three) or a sequence."""
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        numbers = [float(p) for p in parts if not isinstance(p, bool)]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3 or len(parts) not in (1, 3) or not all(math.isfinite(n) for n in numbers):
        raise AnalyzeInputError(
            f"{flag} takes 3 finite numbers (R,G,B), e.g. {flag} 0.485,0.456,0.406; got {value!r}"
        )
    return (numbers[0], numbers[1], numbers[2])


@dataclass(frozen=True)
class Normalisation:
    """The mean/std every model is fed with, where they came from, and a warning when assumed."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    warning: str | None = None

    def manifest(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "source": self.source}


def _stated(loaded: Any) -> tuple[tuple, tuple, str] | None:
    """(mean, std, where) that a checkpoint's card or its run folder states, or None."""
    card = loaded.card
    if card.extra.get("card") != "defaults":  # a sidecar or a stored card: written with the weights
        return tuple(card.mean), tuple(card.std), f"the card of {loaded.path}"
    from engine.runs.folder import NotARunError, RunDir

    for folder in list(Path(loaded.path).resolve().parents)[:3]:  # checkpoints/, checkpoints/epochs/
        run = RunDir(folder)
        if not run.is_run():
            continue
        try:
            sets = run.read_sets()
        except NotARunError:
            return None
        if sets.get("mean") and sets.get("std"):
            return tuple(sets["mean"]), tuple(sets["std"]), f"the run folder {folder} (sets.json)"
    return None


def choose_normalisation(config: Any, loaded: Mapping[str, Any], data_mean, data_std, data_name: str):
    """The :class:`Normalisation` of an analysis (see the module's note). Checkpoints that state
    different values are refused: one normalisation feeds all three models."""
    if config.mean is not None:
        mean, std = parse_triple(config.mean, "--mean"), parse_triple(config.std, "--std")
        return Normalisation(mean, std, "--mean/--std")
    stated = {role: found for role, m in loaded.items() if (found := _stated(m)) is not None}
    values = {
        (tuple(round(v, 6) for v in mean), tuple(round(v, 6) for v in std))
        for mean, std, _ in stated.values()
    }
    if len(values) > 1:
        listing = "; ".join(f"{role}: mean {m}, std {s} ({where})" for role, (m, s, where) in stated.items())
        raise AnalyzeInputError(
            f"the checkpoints were trained with different normalisations ({listing}); one mean/std feeds "
            "all three models, so give the one to use with --mean and --std"
        )
    if stated:
        mean, std, _ = next(iter(stated.values()))
        where = "; ".join(f"{role}: {where}" for role, (_, _, where) in stated.items())
        unknown = [role for role in loaded if role not in stated]
        also = f" (assumed for {', '.join(unknown)}, whose checkpoints state none)" if unknown else ""
        return Normalisation(tuple(mean), tuple(std), f"{where}{also}")
    mean, std = tuple(float(v) for v in data_mean), tuple(float(v) for v in data_std)
    warning = (
        f"no checkpoint states how its inputs were normalised (no sidecar, no run folder); using the "
        f"data's statistics mean {_short(mean)} std {_short(std)} ({data_name}). If the models were "
        "trained with other values, give them with --mean and --std: FSS/RS and the maps depend on it."
    )
    return Normalisation(
        mean, std, f"assumed: the data's statistics ({data_name}); no checkpoint states any", warning
    )


def _short(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:.4g}" for v in values)
