"""Runs side by side (torch-free): the curves of one run folder as plain arrays, the run folders a
chosen folder stands for (a run, a study's seeds, or a folder of runs), and the smoothing a
comparison offers. The window's Compare panel overlays what these return; reading is a few small
files per run (``history.jsonl``, ``metrics.jsonl``), with the :class:`~engine.runs.RunDir`
readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import EpochSummary
from engine.runs.folder import NotARunError, RunDir
from engine.runs.notices import run_notices
from engine.runs.study_folder import STUDY_FILE, is_study, read_study

__all__ = ["RunCurves", "compared_runs", "epoch_curve", "read_run_curves", "smoothed"]

Series = tuple[np.ndarray, np.ndarray]  # (x, y), float64


@dataclass(frozen=True)
class RunCurves:
    """One run's curves. ``losses`` and ``heldout`` by role, x in the role's own epochs
    (fractional inside an epoch where its steps are stored); ``metrics`` by (metric, layer) over
    KD epochs (each row's mean)."""

    path: str
    name: str
    losses: dict[str, Series] = field(default_factory=dict)
    heldout: dict[str, Series] = field(default_factory=dict)
    metrics: dict[tuple[str, str], Series] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def epoch_curve(summary: EpochSummary) -> tuple[list[float], list[float]]:
    """One epoch's loss points: its stored steps (x = epoch - 1 + step / steps), else its end."""
    if not summary.step_losses:
        return [float(summary.epoch)], [summary.train_loss]
    steps = summary.step_losses[-1][0]
    xs = [summary.epoch - 1 + step / steps for step, _ in summary.step_losses]
    return xs, [loss for _, loss in summary.step_losses]


def read_run_curves(path: str | Path) -> RunCurves:
    """The curves of the run folder ``path`` (NotARunError / RunDamagedError say what is wrong)."""
    run = RunDir(path)
    run.require_run()
    points: dict[str, dict[int, tuple[list[float], list[float], float]]] = {}
    for summary in run.read_history(cut=[]):  # a later line for an epoch replaces an earlier one
        xs, ys = epoch_curve(summary)
        held = math.nan if summary.heldout_accuracy is None else summary.heldout_accuracy
        points.setdefault(summary.role, {})[summary.epoch] = (xs, ys, held)
    losses, heldout = {}, {}
    for role, epochs in points.items():
        ordered = [epochs[epoch] for epoch in sorted(epochs)]
        losses[role] = _series(
            [x for xs, _, _ in ordered for x in xs], [y for _, ys, _ in ordered for y in ys]
        )
        heldout[role] = _series(sorted(epochs), [held for _, _, held in ordered])
    rows: dict[tuple[str, str], dict[int, float]] = {}
    for row in run.read_metrics(cut=[]):
        rows.setdefault((row.metric, row.layer), {})[row.epoch] = row.mean
    metrics = {key: _series(sorted(by), [by[e] for e in sorted(by)]) for key, by in rows.items()}
    return RunCurves(str(run.path), _name(run.path), losses, heldout, metrics, tuple(run_notices(run)))


def _series(x: list[float], y: list[float]) -> Series:
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _name(path: Path) -> str:
    """A run's name; a study's seed is named with its study ("study/seed_1")."""
    return f"{path.parent.name}/{path.name}" if (path.parent / STUDY_FILE).is_file() else path.name


def compared_runs(folder: str | Path) -> list[Path]:
    """The run folders ``folder`` stands for: itself when it is a run, a study's seed runs, else the
    runs directly inside it (by name). Raises NotARunError when it holds none."""
    path = Path(folder)
    if RunDir(path).is_run():
        return [path]
    if is_study(path):
        document = read_study(path)
        return [path / str(document["runs"][str(seed)]) for seed in document.get("seeds", [])]
    if path.is_dir():
        found = sorted(child for child in path.iterdir() if child.is_dir() and RunDir(child).is_run())
        if found:
            return found
    raise NotARunError(
        f"{path} holds no KD Lens run: pick a run folder, a study folder, or a folder of run folders"
    )


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    """An exponential moving average with the start-up bias removed (TensorBoard's smoothing):
    ``weight`` 0 keeps the values, 0.99 smooths hard; NaN stays NaN and does not count."""
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or values.size == 0:
        return values
    out = np.full(values.shape, np.nan)
    average, count = 0.0, 0
    for index, value in enumerate(values):
        if not math.isfinite(value):
            continue
        average = weight * average + (1.0 - weight) * value
        count += 1
        out[index] = average / (1.0 - weight**count)
    return out
