"""What the plot panels show, as plain data (:class:`engine.reports.plot_specs.CurvePlot` and the
evidence registry's plots), read from the Qt-free run history: the metrics panel draws its curves
from it, and every panel exports it as a file figure drawn by the report's code. No Qt here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from engine.events import MetricsRow
from engine.reports.plot_specs import Curve, CurvePlot, epoch_plots, layer_plots
from engine.vocab import METRIC_PLOTS, ROLE_COLOURS
from gui.model.history import RoleCurves, RunHistory
from gui.model.run_model import RunModel

__all__ = [
    "KD_TRAINED",
    "METRIC_STEMS",
    "kd_loss_name",
    "metric_epochs",
    "metric_plots_at",
    "metric_plots_over_epochs",
    "rows_at",
    "run_plots",
    "training_plots",
]

KD_TRAINED = ("assistant", "student")  # roles whose loss has a KD term
METRIC_STEMS = {"fss": "metrics_fss", "rs": "metrics_rs", "conditional": "metrics_distilled_residual"}


def kd_loss_name(config: Mapping | None) -> str | None:
    """The run's KD loss, from its configuration (None when unknown)."""
    kd = (config or {}).get("kd")
    return str(kd["loss"]) if isinstance(kd, dict) and kd.get("loss") else None


def _loss_curve(role: str, curves: RoleCurves) -> Curve:
    """A role's loss; markers only where each point is an epoch (not thousands of steps)."""
    x, y = curves.loss_curve()  # each epoch's steps where known, else its end-of-epoch loss
    colour = ROLE_COLOURS.get(role, "#000000")
    return Curve(role, x, y, colour, marker="o" if x.size <= len(curves.epoch_x) else "")


def training_plots(history: RunHistory, config: Mapping | None) -> dict[str, CurvePlot]:
    """The training panel's plots that have data, by file stem: the teacher's and the base's
    cross-entropy, the KD loss of the distilled roles, and accuracy (train and held-out)."""
    plots: dict[str, CurvePlot] = {}
    cross = tuple(_loss_curve(r, c) for r, c in history.curves.items() if r not in KD_TRAINED)
    kd = tuple(_loss_curve(r, c) for r, c in history.curves.items() if r in KD_TRAINED)
    loss = kd_loss_name(config)
    if any(c.x.size for c in cross):
        plots["training_cross_entropy"] = CurvePlot(
            "Cross-entropy loss (teacher, base)", cross, "epoch", "cross-entropy (nats)"
        )
    if any(c.x.size for c in kd):
        title = f"KD loss (student, {loss})" if loss else "KD loss (student)"
        plots["training_kd_loss"] = CurvePlot(title, kd, "epoch", f"{loss or 'KD'} loss")
    accuracy = []
    for role, curves in history.curves.items():
        epochs, colour = np.asarray(curves.epoch_x, float), ROLE_COLOURS.get(role, "#000000")
        held = np.asarray(curves.heldout_accuracy, float)
        train = 100 * np.asarray(curves.train_accuracy, float)
        accuracy.append(Curve(role, epochs, train, colour, key=f"{role} train"))
        if np.isfinite(held).any():
            # one legend entry per role: the title says that dashed lines are held-out
            accuracy.append(
                Curve("", epochs, 100 * held, colour, dashed=True, marker="^", key=f"{role} held-out")
            )
    if any(c.x.size for c in accuracy):
        plots["training_accuracy"] = CurvePlot(
            "Accuracy (dashed: held-out)", tuple(accuracy), "epoch", "accuracy (%)", y_range=(0.0, 100.0)
        )
    return plots


def metric_epochs(history: RunHistory) -> list[int]:
    """The epochs that have metrics rows, sorted."""
    return sorted({epoch for by_epoch in history.metrics.values() for epoch in by_epoch})


def rows_at(history: RunHistory, epoch: int | None) -> tuple[int | None, list[MetricsRow]]:
    """The metrics rows of the latest epoch with metrics at or before ``epoch`` (None: the last),
    layer taps in the order the run computed them; (that epoch, its rows)."""
    epochs = [e for e in metric_epochs(history) if epoch is None or e <= epoch]
    if not epochs:
        return None, []
    chosen = max(epochs)
    rows = [
        by_epoch[chosen]
        for layer in history.layers()
        for metric in history.metric_names()
        if chosen in (by_epoch := history.metrics.get((metric, layer), {}))
    ]
    return chosen, rows


def metric_plots_at(history: RunHistory, epoch: int | None) -> dict[str, CurvePlot]:
    """FSS, RS and conditional RS per layer tap at ``epoch`` (see :func:`rows_at`), by plot key."""
    at, rows = rows_at(history, epoch)
    plots = layer_plots(rows)
    suffix = "" if at is None else f" at epoch {at}" if at else ""
    return {
        key: replace(plot, title=f"{title}{suffix}")
        for (key, title, _hint), plot in zip(METRIC_PLOTS, plots, strict=True)
    }


def metric_plots_over_epochs(history: RunHistory, layer: str) -> dict[str, CurvePlot]:
    """The same plots over epochs at one layer tap, by plot key."""
    rows = [
        row
        for (_metric, tap), by_epoch in history.metrics.items()
        if tap == layer
        for row in by_epoch.values()
    ]
    plots = epoch_plots(rows, layer)
    return {key: plot for (key, _title, _hint), plot in zip(METRIC_PLOTS, plots, strict=True)}


def run_plots(model: RunModel) -> dict[str, CurvePlot]:
    """The run's training plots by file stem (see :func:`training_plots`)."""
    return training_plots(model.history, model.run_config())
