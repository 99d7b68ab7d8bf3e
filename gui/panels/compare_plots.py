"""The Compare panel's plots: every compared run in its colour, the teacher's curves over the
teacher's own epochs (top row) and the base's and student's over the KD epochs (bottom row: the
base's cross-entropy and the student's KD loss apart, their accuracies together with the student
solid and the base dashed; FSS/RS), with one legend naming the runs. Curves are made once per run,
role and plot and then fed with ``setData`` (STYLE.md); a run that is no longer shown loses its
curves."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from engine.vocab import metric_label, rgb
from gui.model.compare import CompareModel
from gui.panels.axis import plain_axes

__all__ = ["ComparePlots"]

#: (plot key, row, column, title, x label): the teacher's epochs above, the KD epochs below
PLOTS = (
    ("teacher_loss", 0, 0, "Teacher loss", "teacher epoch"),
    ("teacher_accuracy", 0, 1, "Teacher held-out acc.", "teacher epoch"),
    ("base_loss", 1, 0, "Base loss", "KD epoch"),
    ("student_loss", 1, 1, "Student loss (KD)", "KD epoch"),
    ("kd_accuracy", 1, 2, "Held-out accuracy", "KD epoch"),
    ("metric", 1, 3, "FSS / RS", "KD epoch"),
)
GREY = (90, 90, 90)


class ComparePlots(pg.GraphicsLayoutWidget):
    """Five plots and a legend; :meth:`draw` shows what a :class:`CompareModel` holds."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str, str], pg.PlotDataItem] = {}  # (plot, run path, role)
        for key, row, col, title, x_label in PLOTS:
            plot = self.addPlot(row=row, col=col, axisItems=plain_axes("left", "bottom"))
            plot.setTitle(title, size="9pt", color="#333")
            plot.setLabel("bottom", x_label, **{"font-size": "8pt"})
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            for side in ("left", "bottom"):
                plot.getAxis(side).enableAutoSIPrefix(False)  # accuracy is 0.8, never "800 x 0.001"
            self.plots[key] = plot
        self.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor=(40, 40, 40), verSpacing=-6)
        self.addItem(self.legend, row=0, col=2, colspan=2)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.ci.setSpacing(2)
        for column in range(4):  # the legend's columns as wide as the plots' below them
            self.ci.layout.setColumnStretchFactor(column, 1)

    def draw(self, model: CompareModel) -> None:
        """Every shown run's curves as the model's options say."""
        wanted = set()
        for key, plot in self.plots.items():
            plot.setLogMode(y=model.log_scale and key.endswith("loss"))
            for run, role, x, y in model.series(key):
                name = (key, run.curves.path, role)
                wanted.add(name)
                curve = self.curves.get(name)
                if curve is None:
                    curve = self.curves[name] = plot.plot(pen=_pen(run.colour, role))
                curve.setData(x, y, connect="finite")
            plot.enableAutoRange()
        for name in [n for n in self.curves if n not in wanted]:
            self.plots[name[0]].removeItem(self.curves.pop(name))
        metric = self.plots["metric"]
        layer = model.layer if model.layer in model.layers() else (model.layers() or [""])[-1]
        metric.setTitle(metric_label(model.metric) if layer else "FSS / RS", size="9pt", color="#333")
        metric.setLabel("bottom", f"KD epoch · {layer}" if layer else "KD epoch", **{"font-size": "8pt"})
        self._legend(model)

    def _legend(self, model: CompareModel) -> None:
        self.legend.clear()
        for run in (run for run in model.runs if run.shown):
            self.legend.addItem(pg.PlotDataItem(pen=_pen(run.colour, "student")), run.curves.name)
        if model.runs:
            self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen(GREY, width=2)), "student, teacher")
            dashed = pg.mkPen(GREY, width=2, style=Qt.PenStyle.DashLine)
            self.legend.addItem(pg.PlotDataItem(pen=dashed), "base")


def _pen(colour: str, role: str) -> pg.QtGui.QPen:
    style = Qt.PenStyle.DashLine if role == "base" else Qt.PenStyle.SolidLine
    return pg.mkPen(rgb(colour), width=2 if role != "base" else 1.5, style=style)
