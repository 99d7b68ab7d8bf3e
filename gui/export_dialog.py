"""The export dialog: where to write, and at what DPI the PNG figures are drawn. It starts at the
last folder used; the folder is created when the export runs if it does not exist yet."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

DPI_CHOICES = (100, 150, 200, 300, 600)


class ExportDialog(QDialog):
    """Folder and DPI for one export."""

    def __init__(self, parent: QWidget | None, folder: str, dpi: int) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export figures, maps and metrics")
        self.folder = QLineEdit(folder)
        self.folder.setMinimumWidth(360)
        self.folder.setToolTip("Created if it does not exist")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.dpi = QComboBox()
        for choice in DPI_CHOICES:
            self.dpi.addItem(f"{choice} dpi", choice)
        self.dpi.setCurrentIndex(max(self.dpi.findData(dpi), 0))
        self.dpi.setToolTip("Resolution of the PNG figures (the SVG files are vectors)")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow("PNG resolution", self.dpi)
        form.addRow(
            QLabel(
                "Writes the heatmap figure (PNG, SVG), the loss, accuracy and metric plots (PNG, SVG), "
                "the maps (.npz), the metrics (CSV, JSON) and a manifest."
            )
        )
        form.addRow(buttons)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def chosen(self) -> tuple[str, int]:
        return self.folder.text().strip(), int(self.dpi.currentData())
