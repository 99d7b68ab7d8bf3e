"""The input normalisation an analysis feeds its models with, never guessed silently: ``--mean/--std``
when given, else what the checkpoints' cards state, else what the run folder a checkpoint sits in
used; only when nothing states it do the data's own statistics stand in, with a warning. The
manifest records which of these it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.jobs.analyze_config import AnalyzeInputError, parse_triple

__all__ = ["Normalisation", "choose_normalisation"]


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


def choose_normalisation(
    given: tuple[Any, Any] | None, loaded: Mapping[str, Any], data_mean, data_std, data_name: str
) -> Normalisation:
    """The :class:`Normalisation` of an analysis (see the module's note): ``given`` (mean, std) as
    the user gave them, or None. Checkpoints that state different values are refused: one
    normalisation feeds all three models."""
    if given is not None:
        mean, std = parse_triple(given[0], "--mean"), parse_triple(given[1], "--std")
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
