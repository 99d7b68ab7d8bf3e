"""The runs being compared, without Qt: which runs (read with ``engine.runs.compare``), one colour
each, which are shown, and how their curves are drawn (smoothing, log scale, the FSS/RS metric and
layer). The Compare panel subscribes to ``changed`` and draws what :meth:`CompareModel.series`
returns; the window and the Study panel add runs through the run model's ``compare_requested``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import KDLensError
from engine.runs.compare import RunCurves, compared_runs, read_run_curves, smoothed
from gui.model.evented import Emitter

__all__ = ["RUN_COLOURS", "CompareModel", "ComparedRun"]

#: One colour per run, in the order runs are added (then again from the start).
RUN_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
)  # fmt: skip
#: Each plot's roles: the teacher's over its own epochs, the others over the KD epochs. Losses of
#: different objectives never share an axis (the student's KD loss is on another scale than the
#: cross-entropy of the base), accuracies do (the student solid, the base dashed).
PLOT_ROLES = {
    "teacher_loss": ("teacher",),
    "teacher_accuracy": ("teacher",),
    "base_loss": ("base",),
    "student_loss": ("student",),
    "kd_accuracy": ("student", "base"),
}


@dataclass
class ComparedRun:
    curves: RunCurves
    colour: str
    shown: bool = True


class CompareModel:
    """The compared runs and the drawing options; ``changed()`` after every change."""

    def __init__(self) -> None:
        self.runs: list[ComparedRun] = []
        self.smoothing = 0.0
        self.log_scale = False
        self.metric = "FSS(S,T)"
        self.layer: str | None = None  # None: the last layer the runs have
        self.changed = Emitter()
        self._colours = 0

    # -- the runs --------------------------------------------------------------------------
    def add(self, folders: list[str]) -> list[str]:
        """Add the runs each folder stands for (a run, a study's seeds, a folder of runs); returns
        what could not be read, a sentence each. A run already compared is not added twice."""
        problems: list[str] = []
        known = {run.curves.path for run in self.runs}
        for folder in folders:
            try:
                paths = compared_runs(folder)
            except (KDLensError, OSError, KeyError, TypeError, ValueError) as exc:
                problems.append(str(exc))
                continue
            for path in paths:
                if str(path) in known:
                    continue
                try:
                    curves = read_run_curves(path)
                except (KDLensError, OSError) as exc:
                    problems.append(str(exc))
                    continue
                self.runs.append(ComparedRun(curves, RUN_COLOURS[self._colours % len(RUN_COLOURS)]))
                self._colours += 1
                known.add(curves.path)
        self.changed.emit()
        return problems

    def reload(self) -> list[str]:
        """Read every compared run again (a run that trained on); keeps colours and visibility."""
        problems = []
        for run in self.runs:
            try:
                run.curves = read_run_curves(run.curves.path)
            except (KDLensError, OSError) as exc:
                problems.append(str(exc))
        self.changed.emit()
        return problems

    def remove(self, path: str) -> None:
        self.runs = [run for run in self.runs if run.curves.path != str(Path(path))]
        self.changed.emit()

    def clear(self) -> None:
        self.runs, self._colours = [], 0
        self.changed.emit()

    def set_shown(self, path: str, shown: bool) -> None:
        for run in self.runs:
            if run.curves.path == path:
                run.shown = shown
        self.changed.emit()

    # -- how they are drawn ----------------------------------------------------------------
    def set_options(
        self, smoothing: float, log_scale: bool, metric: str | None = None, layer: str | None = None
    ) -> None:
        self.smoothing = min(max(float(smoothing), 0.0), 0.99)
        self.log_scale = bool(log_scale)
        self.metric = metric or self.metric
        self.layer = layer
        self.changed.emit()

    def metric_names(self) -> list[str]:
        return _ordered(key[0] for run in self.runs for key in run.curves.metrics)

    def layers(self) -> list[str]:
        return _ordered(key[1] for run in self.runs for key in run.curves.metrics if key[0] == self.metric)

    def series(self, plot: str) -> list[tuple[ComparedRun, str, np.ndarray, np.ndarray]]:
        """(run, role, x, y) of every shown run in ``plot`` (a key of ``PLOT_ROLES``, or "metric"),
        smoothed as chosen; the metric's role is its name."""
        out = []
        layers = self.layers()
        layer = self.layer if self.layer in layers else (layers[-1] if layers else None)
        for run in (run for run in self.runs if run.shown):
            curves = run.curves
            if plot == "metric":
                found = curves.metrics.get((self.metric, layer)) if layer else None
                pairs = [(self.metric, found)] if found is not None else []
            else:
                table = curves.losses if plot.endswith("loss") else curves.heldout
                pairs = [(role, table[role]) for role in PLOT_ROLES[plot] if role in table]
            for role, (x, y) in pairs:
                out.append((run, role, x, smoothed(y, self.smoothing)))
        return out


def _ordered(names) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)
