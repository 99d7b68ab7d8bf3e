"""The heatmap grid's per-map choices (Qt-free): which rows (the input and each map) are hidden,
and the contrast limits the user set for a map's row (its colour levels; a map without its own
limits is drawn with the levels of the display options). Limits are in the units of the view
mode and scale they were set in, so a change of mode or scale forgets them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

__all__ = ["MapRows"]


@dataclass(frozen=True)
class MapRows:
    hidden: frozenset[str] = frozenset()
    levels: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def shown(self, keys: Iterable[str]) -> list[str]:
        """``keys`` in order, without the hidden ones."""
        return [key for key in keys if key not in self.hidden]

    def with_hidden(self, key: str, hidden: bool) -> MapRows:
        return replace(self, hidden=self.hidden | {key} if hidden else self.hidden - {key})

    def with_levels(self, key: str, levels: tuple[float, float] | None) -> MapRows:
        """Own contrast limits for ``key`` (None: back to the display options' levels)."""
        changed = {k: v for k, v in self.levels.items() if k != key}
        if levels is not None:
            low, high = sorted((float(levels[0]), float(levels[1])))
            changed[key] = (low, high if high > low else low + 1e-12)
        return replace(self, levels=changed)

    def levels_for(self, key: str, default: tuple[float, float]) -> tuple[float, float]:
        return tuple(self.levels.get(key, default))  # type: ignore[return-value]

    def without_levels(self) -> MapRows:
        return replace(self, levels={})
