"""What the user chose to start, as plain data: the setup panel fills it in and the window starts
it, so the window reads no widget of the panel (Qt-free, like the rest of ``gui.model``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ANALYZE", "CUSTOM", "JobChoice"]

CUSTOM = ""  # the preset key of a custom run
ANALYZE = "analyze"  # the preset key of an analysis of given checkpoints


@dataclass(frozen=True)
class JobChoice:
    """One press of Start: a demo preset, a custom training run or an analysis of checkpoints.

    ``preset`` is a demo preset's key, "" for a custom run or ``"analyze"``; ``out_dir`` is the
    folder the user typed ("" : a new folder under the runs folder, picked by the window);
    ``config`` is the custom run's ``TrainConfig`` mapping or the analysis's ``AnalyzeConfig``
    mapping (whose ``out`` the window sets to the folder it picked), None for a demo;
    ``problem`` says why the job cannot start (None: it can).
    """

    preset: str
    device: str = "cpu"
    out_dir: str = ""
    processes: int = 1
    embedding: str = "one-hot"
    config: Mapping[str, Any] | None = None
    problem: str | None = None
