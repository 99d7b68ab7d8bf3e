"""Setup panel: what to train or load (SPEC §8 "Setup"). It produces a plain dict in the shape of
``TrainConfig.to_dict()``; the engine validates it (in the worker thread) and names any problem.

The choice lists come from the engine's explicit registries (``set_choices``); the window reads
them in a child process (``gui.engine_choices``) because importing them pulls in torch.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

PRESETS = (
    ("kd-gain", "Demo: KD helps (small, noisy student data)"),
    ("cue-failure", "Demo: KD fails (spurious background cue)"),
    ("", "Custom: use the settings below"),
)
PRESET_TEXT = {
    "kd-gain": "Trains a teacher (large CNN) on a larger, clean split of the built-in synthetic shapes, "
    "then a base and a student (small CNNs, same seed and data order) on a small split with noisy "
    "labels. Only the student learns from the teacher (Hinton KD), so comparing student and base "
    "shows what KD transferred. Nothing else is needed.",
    "cue-failure": "As the KD-gain demo, plus a coloured background cue that matches the class in most "
    "student images. The teacher never saw it; KD does not stop the student from leaning on it. "
    "Watch the distilled and residual maps move off the object.",
    "": "Choose the dataset, each role (train it here or load a checkpoint), the KD loss and its "
    "hyper-parameters below, then press Start.",
}
ROLES = ("teacher", "assistant", "base", "student")
DEFAULT_ARCH = {"teacher": "large_cnn", "assistant": "small_cnn", "base": "small_cnn", "student": "small_cnn"}
FALLBACK_ARCHS = ("small_cnn", "large_cnn", "resnet18", "resnet34", "mobilenet_v2")
FALLBACK_LOSSES = ("hinton", "authors", "attention")
EMBEDDINGS = (
    ("one-hot", "One-hot labels (default)"),
    ("prototypes", "Teacher prototypes"),
    ("file", "Embeddings file (.npy/.pt/.csv)"),
)


class _RoleRow:
    """One role's widgets: train or load, architecture, epochs, checkpoint to load."""

    def __init__(self, role: str, grid: QGridLayout, row: int, parent: QWidget) -> None:
        self.role = role
        self.enabled = QCheckBox(role)
        self.enabled.setChecked(role != "assistant")
        self.enabled.setEnabled(role == "assistant")
        self.enabled.setToolTip("The assistant (T -> A -> S chain) is optional; the others are needed")
        self.mode = QComboBox()
        self.mode.addItems(["train", "load"])
        self.mode.setToolTip(f"Train the {role} here, or load its checkpoint")
        self.arch = QComboBox()
        self.arch.setToolTip(f"Architecture of the {role}")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(4 if role == "teacher" else 8)
        self.epochs.setToolTip("Epochs (base and student must match)")
        self.path = QLineEdit()
        self.path.setPlaceholderText("checkpoint (.safetensors / .pt)")
        browse = QPushButton("…")
        browse.setToolTip(f"Pick the {role}'s checkpoint")
        browse.clicked.connect(lambda _checked=False: self._browse(parent))
        for column, widget in enumerate((self.enabled, self.mode, self.arch, self.epochs, self.path, browse)):
            grid.addWidget(widget, row, column)
        self.mode.currentTextChanged.connect(self._sync)
        self._sync()

    def _browse(self, parent: QWidget) -> None:
        path, _ = QFileDialog.getOpenFileName(
            parent, f"{self.role} checkpoint", "", "Checkpoints (*.safetensors *.pt *.pth)"
        )
        if path:
            self.path.setText(path)
            self.mode.setCurrentText("load")

    def _sync(self) -> None:
        loading = self.mode.currentText() == "load"
        self.path.setEnabled(loading)
        self.epochs.setEnabled(not loading)

    def to_dict(self) -> dict[str, Any] | None:
        if not self.enabled.isChecked():
            return None
        load = self.path.text().strip() if self.mode.currentText() == "load" else None
        return {"arch": self.arch.currentText(), "epochs": self.epochs.value(), "load": load or None}


class SetupPanel(QWidget):
    """Dataset, roles, architectures, KD loss and hyper-parameters, layers, embeddings, preset."""

    preset_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preset = QComboBox()
        for key, label in PRESETS:
            self.preset.addItem(label, key)
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(18)
        self.preset.setToolTip(
            "The built-in demo needs nothing else: it trains a teacher, a base and a student"
        )
        self.custom = QWidget()
        custom = QVBoxLayout(self.custom)
        custom.setContentsMargins(0, 0, 0, 0)
        custom.addWidget(self._dataset_box())
        custom.addWidget(self._roles_box())
        custom.addWidget(self._kd_box())
        custom.addWidget(self._analysis_box())
        self.out_dir = QLineEdit()
        self.out_dir.setPlaceholderText("a new folder under the runs folder")
        self.out_dir.setToolTip("Where the run is written (config, checkpoints, metrics, maps)")
        out_browse = QPushButton("…")
        out_browse.clicked.connect(lambda _checked=False: self._browse_dir(self.out_dir, "Run folder"))
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(out_browse)
        self.description = QLabel()
        self.description.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Run folder", out_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.description)
        layout.addWidget(self.custom)
        layout.addStretch(1)
        self._archs: dict[str, dict[str, Any]] = {}
        self._loss_defaults: dict[str, dict[str, float]] = {}
        self._fill(FALLBACK_ARCHS, FALLBACK_LOSSES)
        self.roles["student"].arch.currentTextChanged.connect(self._on_arch)
        self.preset.currentIndexChanged.connect(self._on_preset)
        self._on_preset()

    # -- sections --------------------------------------------------------------------------
    def _dataset_box(self) -> QGroupBox:
        box = QGroupBox("Dataset")
        self.source = QComboBox()
        self.source.addItem("Synthetic shapes (built in)", "shapes")
        self.source.addItem("Image folder (train/ and test/)", "folder")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder with train/<class>/… and test/<class>/…")
        browse = QPushButton("…")
        browse.clicked.connect(lambda _checked=False: self._browse_dir(self.folder, "Image folder"))
        self.image_size = QSpinBox()
        self.image_size.setRange(16, 512)
        self.image_size.setValue(32)
        self.image_size.setToolTip("Images are resized to this many pixels per side")
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(box)
        form.addRow("Source", self.source)
        form.addRow("Folder", row)
        form.addRow("Image size", self.image_size)
        self.source.currentIndexChanged.connect(
            lambda _i: self.folder.setEnabled(self.source.currentData() == "folder")
        )
        self.folder.setEnabled(False)
        return box

    def _roles_box(self) -> QGroupBox:
        box = QGroupBox("Models (train or load each role)")
        grid = QGridLayout(box)
        for column, title in enumerate(("role", "train/load", "architecture", "epochs", "checkpoint")):
            grid.addWidget(QLabel(f"<i>{title}</i>"), 0, column)
        self.roles = {role: _RoleRow(role, grid, row, self) for row, role in enumerate(ROLES, start=1)}
        return box

    def _kd_box(self) -> QGroupBox:
        box = QGroupBox("Distillation")
        self.kd_loss = QComboBox()
        self.kd_loss.setToolTip(
            "hinton: soft-label KL; authors: 0.7 CE + 0.3 T² MSE; attention: attention transfer"
        )
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.1, 100)
        self.temperature.setValue(4.0)
        self.alpha = QDoubleSpinBox()
        self.alpha.setRange(0, 1)
        self.alpha.setSingleStep(0.05)
        self.alpha.setValue(0.9)
        self.beta = QDoubleSpinBox()
        self.beta.setRange(0, 1e5)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(1e-4, 10)
        self.lr.setValue(0.05)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(64)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form = QFormLayout(box)
        form.addRow("KD loss", self.kd_loss)
        form.addRow("Temperature T", self.temperature)
        form.addRow("Alpha (KD weight)", self.alpha)
        form.addRow("Beta (attention weight)", self.beta)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Seed", self.seed)
        self.kd_loss.currentTextChanged.connect(self._on_loss)
        return box

    def _analysis_box(self) -> QGroupBox:
        box = QGroupBox("Explanations")
        self.layers = QLabel("CAM layer and metric taps: the architecture's defaults")
        self.layers.setWordWrap(True)
        self.embedding = QComboBox()
        for key, label in EMBEDDINGS:
            self.embedding.addItem(label, key)
        self.embedding.setToolTip("Class embeddings E used by the label-guided UniCAM and by RS")
        self.probe_size = QSpinBox()
        self.probe_size.setRange(4, 64)
        self.probe_size.setValue(16)
        self.probe_size.setToolTip("Probe images shown in the heatmap grid (at least 4)")
        form = QFormLayout(box)
        form.addRow("Layers", self.layers)
        form.addRow("Class embeddings", self.embedding)
        form.addRow("Probe images", self.probe_size)
        return box

    # -- choices ---------------------------------------------------------------------------
    def _fill(self, archs: tuple[str, ...] | list[str], losses: tuple[str, ...] | list[str]) -> None:
        for row in self.roles.values():
            current = row.arch.currentText() or DEFAULT_ARCH[row.role]
            row.arch.clear()
            row.arch.addItems(list(archs))
            row.arch.setCurrentText(current if current in archs else DEFAULT_ARCH[row.role])
        current_loss = self.kd_loss.currentText() or "hinton"
        self.kd_loss.blockSignals(True)
        self.kd_loss.clear()
        self.kd_loss.addItems(list(losses))
        self.kd_loss.setCurrentText(current_loss)
        self.kd_loss.blockSignals(False)

    def set_choices(self, choices: dict[str, Any]) -> None:
        """Fill the lists from ``gui.engine_choices.read_choices()``."""
        self._archs = dict(choices["architectures"])
        self._loss_defaults = dict(choices["losses"])
        self._fill(list(self._archs), list(self._loss_defaults))
        self._on_arch()

    @Slot()
    def _on_arch(self) -> None:
        spec = self._archs.get(self.roles["student"].arch.currentText())
        if spec:
            self.layers.setText(
                f"student CAM layer <b>{spec['cam_layer']}</b>; metric taps {', '.join(spec['metric_taps'])} "
                "(the architecture's defaults)"
            )

    @Slot(str)
    def _on_loss(self, name: str) -> None:
        defaults = self._loss_defaults.get(name)
        if defaults:
            self.temperature.setValue(defaults["temperature"])
            self.alpha.setValue(defaults["alpha"])
            self.beta.setValue(defaults["beta"])

    @Slot()
    def _on_preset(self) -> None:
        self.custom.setVisible(not self.preset_key())
        self.description.setText(PRESET_TEXT.get(self.preset_key(), ""))
        self.preset_changed.emit(self.preset_key())

    def _browse_dir(self, target: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, target.text())
        if path:
            target.setText(path)

    # -- results ---------------------------------------------------------------------------
    def preset_key(self) -> str:
        """The demo preset chosen, or "" for a custom run."""
        return str(self.preset.currentData() or "")

    def set_preset(self, key: str) -> None:
        index = self.preset.findData(key)
        if index >= 0:
            self.preset.setCurrentIndex(index)

    def config_dict(self) -> dict[str, Any]:
        """The custom run as a ``TrainConfig.from_dict`` mapping (validated by the engine)."""
        roles = {role: row.to_dict() for role, row in self.roles.items()}
        source = "shapes" if self.source.currentData() == "shapes" else self.folder.text().strip()
        return {
            **roles,
            "dataset": {"source": source, "image_size": self.image_size.value()},
            "kd": {
                "loss": self.kd_loss.currentText(),
                "temperature": self.temperature.value(),
                "alpha": self.alpha.value(),
                "beta": self.beta.value(),
            },
            "optimizer": {"lr": self.lr.value()},
            "batch_size": self.batch.value(),
            "seed": self.seed.value(),
            "probe_size": self.probe_size.value(),
        }

    def set_locked(self, locked: bool) -> None:
        """Lock the choices while a job runs (the description stays readable)."""
        for widget in (self.preset, self.out_dir, self.custom):
            widget.setEnabled(not locked)

    def embedding_source(self) -> str:
        return str(self.embedding.currentData())
