"""The Study view: a study folder's table (one configuration, several seeds), with each seed's
value, the mean and its 95 % t-interval over seeds, and the verdict of every claim; each seed's
run opens from here (SPEC §10)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.vocab import VERDICT_COLOURS
from gui.model.run_model import RunModel

HINT = (
    "Open a study folder (File > Open run folder…) to see one configuration trained with several "
    "seeds: every quantity per seed, its mean and 95 % interval over the seeds, and a verdict for each "
    "claim. Make one with the command line's study command (kdlens-cli study)."
)


class StudyPanel(QWidget):
    """The open study's table and a button per seed run; it asks to be shown
    (``reveal_requested``) when a study opens."""

    reveal_requested = Signal()

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter quantities, e.g. accuracy, claim, stage4")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(False)
        self.runs = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(self.runs)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        self.document: dict[str, Any] | None = None
        model.events.study.connect(self._on_study)

    def _on_study(self, folder: str | None, document: dict[str, Any] | None) -> None:
        if folder is None or document is None:
            self.clear()
            return
        self.show_study(folder, document)
        self.reveal_requested.emit()

    def clear(self) -> None:
        """No study on screen (another run replaced it): the hint again."""
        self.document = None
        self.title.setText(HINT)
        self._clear_buttons()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)

    def _clear_buttons(self) -> None:
        while self.runs.count():
            item = self.runs.takeAt(0)
            if item.widget():
                item.widget().deleteLater()

    def show_study(self, folder: str, document: dict[str, Any]) -> None:
        self.document = document
        seeds = [str(s) for s in document["seeds"]]
        name = document.get("name") or Path(folder).name
        state = "" if document.get("finished") else " — not finished: run the same study command again"
        self.title.setText(
            f"<b>Study {name}</b>: {len(seeds)} seeds in {folder}{state}. Intervals: "
            f"{document.get('interval', '')}."
        )
        self._clear_buttons()
        runs = [str(Path(folder) / document["runs"][seed]) for seed in seeds]
        compare = QPushButton("Compare these seeds")
        compare.setToolTip("Overlay every seed's loss, accuracy and FSS/RS curves (Compare runs tab)")
        compare.clicked.connect(lambda _checked=False: self.model.request_compare(runs))
        self.runs.addWidget(compare)
        for seed in seeds:
            button = QPushButton(f"Open seed {seed}")
            run = Path(folder) / document["runs"][seed]
            button.setToolTip(f"Open the run of seed {seed}: {run}")
            button.clicked.connect(lambda _checked=False, path=str(run): self.model.request_open(path))
            self.runs.addWidget(button)
        self.runs.addStretch(1)
        headers = ["quantity", *(f"seed {s}" for s in seeds), "mean", "95 % low", "95 % high", "n", "verdict"]
        rows = document.get("quantities", [])
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["quantity"], *(row["seeds"].get(s) for s in seeds)]
            cells += [row["mean"], row["ci_low"], row["ci_high"], row["n"], row.get("verdict", "")]
            for c, value in enumerate(cells):
                text = (
                    "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
                )
                item = QTableWidgetItem(text)
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if text in VERDICT_COLOURS:
                    item.setForeground(QColor(VERDICT_COLOURS[text]))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            self.table.setRowHidden(r, bool(needle) and needle not in item.text().lower())
