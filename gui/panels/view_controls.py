"""The inspector's controls row: opacity, colormap, view mode (normalised or signed) and colour
scale (per image or shared), plus the button that opens an image file to explain.

The controls set the model's display options, which every panel that draws maps follows (the
heatmap grid too), and show the model's options whoever changed them.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QSlider, QToolButton, QWidget

from gui.model.options import NORMALISED, PER_IMAGE, SEQUENTIAL_COLORMAPS, SHARED, SIGNED, DisplayOptions
from gui.model.run_model import RunModel
from gui.panels.wheel_guard import guard_wheel

__all__ = ["ViewControls"]


class ViewControls(QWidget):
    """One form: Opacity, View (colormap, mode, scale) and the open-image button."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("How strongly the heatmap covers the image (0: image only)")
        self.colormap = QComboBox()
        self.colormap.addItems(list(SEQUENTIAL_COLORMAPS))
        self.colormap.setToolTip("Colormap of normalised maps (signed maps always use blue-white-red)")
        self.mode = QComboBox()
        self.mode.addItem("Normalised", NORMALISED)
        self.mode.addItem("Signed", SIGNED)
        self.mode.setToolTip(
            "Normalised: after ReLU, 0 to 1 per image. Signed: before ReLU, showing where the map "
            "pushes against the score (blue) as well as for it (red)"
        )
        self.scale = QComboBox()
        self.scale.addItem("Per-image", PER_IMAGE)
        self.scale.addItem("Shared", SHARED)
        self.scale.setToolTip("Shared: one colour scale for all images of a map, so strengths compare")
        for box in (self.colormap, self.mode, self.scale):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)
        self.open_button = QToolButton()
        self.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if actions and "open_image" in actions:  # text, tooltip and enabled state follow the action
            self.open_button.setDefaultAction(actions["open_image"])
        row = QHBoxLayout()
        row.addWidget(self.colormap, 1)
        row.addWidget(self.mode, 1)
        row.addWidget(self.scale, 1)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Opacity", self.opacity)
        form.addRow("View", row)
        form.addRow("", self.open_button)
        self.show_options(model.options)
        self.opacity.valueChanged.connect(self._on_change)
        self.colormap.currentIndexChanged.connect(self._on_change)
        self.mode.currentIndexChanged.connect(self._on_change)
        self.scale.currentIndexChanged.connect(self._on_change)
        model.events.options.connect(self.show_options)
        guard_wheel(self)

    def show_options(self, options: DisplayOptions) -> None:
        """Show ``options`` in the controls without re-emitting them."""
        controls = (self.opacity, self.colormap, self.mode, self.scale)
        for widget in controls:
            widget.blockSignals(True)
        self.opacity.setValue(int(round(options.opacity * 100)))
        if options.colormap in SEQUENTIAL_COLORMAPS:
            self.colormap.setCurrentText(options.colormap)
        self.mode.setCurrentIndex(max(self.mode.findData(options.mode), 0))
        self.scale.setCurrentIndex(max(self.scale.findData(options.scale), 0))
        for widget in controls:
            widget.blockSignals(False)

    @Slot()
    def _on_change(self) -> None:
        """The user changed a control: the model's options change, and every panel follows."""
        self.model.set_options(
            DisplayOptions(
                colormap=self.colormap.currentText(),
                opacity=self.opacity.value() / 100.0,
                mode=self.mode.currentData(),
                scale=self.scale.currentData(),
            )
        )
