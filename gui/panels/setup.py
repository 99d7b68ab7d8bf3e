"""Setup panel: what to train or load, or which checkpoints to analyse (SPEC §8 "Setup"), and on
which device. A custom run is a plain dict in the shape of ``TrainConfig.to_dict()``; an analysis
one in the shape of ``AnalyzeConfig`` (``gui.panels.analyze_form``); the engine validates either
(in a child process) and names any problem.

The choice lists come from the engine's explicit registries (``set_choices``); the window reads
them in a child process (``gui.jobs.choices``) because importing them pulls in torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.vocab import DEMO_PRESETS, ROLES
from gui.model.job_choice import ANALYZE, CUSTOM, JobChoice
from gui.model.run_model import RunModel
from gui.panels.analyze_form import AnalyzeForm
from gui.panels.dataset_form import DatasetForm
from gui.panels.kd_form import KDLossForm
from gui.panels.path_field import PathField
from gui.panels.role_row import RoleRow
from gui.panels.wheel_guard import guard_wheel

PRESET_LABELS = {
    "kd-gain": "Demo: KD helps (small, noisy student data)",
    "cue-failure": "Demo: KD fails (spurious background cue)",
    CUSTOM: "Custom: use the settings below",
    ANALYZE: "Analyze checkpoints (teacher, student, base)",
}
PRESET_TEXT = {
    "kd-gain": "Trains a teacher (large CNN) on a clean split of the built-in synthetic shapes, then a "
    "base and a student (small CNNs, same seed and data order) on a split where 20 % of the labels are "
    "wrong. Only the student learns from the teacher (Hinton KD), so comparing student and base shows "
    "what KD transferred. About 2 minutes on 2 cores; nothing else is needed.",
    "cue-failure": "As the KD-gain demo, plus a coloured background tint that gives away the class on "
    "every student image. The teacher never saw it; base and student both learn the tint, and KD does "
    "not stop that: a failure case. Accuracy on a 'cue-flipped' split (wrong tints) shows it.",
    CUSTOM: "Choose the dataset, each role (train it here or load a checkpoint), the KD loss and its "
    "hyper-parameters below, then press Start.",
    ANALYZE: "Pick a teacher, a KD student and a base trained elsewhere and the data to explain them on, "
    "then press Start: the report folder is written and shown here.",
}
DEVICE_TEXT = {"cpu": "CPU", "cuda": "GPU (CUDA; forward passes in bfloat16 where the GPU has it)"}
DEFAULT_ARCH = {"teacher": "large_cnn", "assistant": "small_cnn", "base": "small_cnn", "student": "small_cnn"}
EMBEDDINGS = (
    ("one-hot", "One-hot labels (default)"),
    ("prototypes", "Teacher prototypes"),
    ("file", "Embeddings file (.npy/.pt/.csv)"),
)


class SetupPanel(QWidget):
    """Dataset, roles, architectures, KD loss and hyper-parameters, layers, embeddings, preset."""

    preset_changed = Signal(str)

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.preset = QComboBox()
        for key in (*DEMO_PRESETS, CUSTOM, ANALYZE):
            self.preset.addItem(PRESET_LABELS[key], key)
        _narrow(self.preset, 18)
        self.preset.setToolTip(
            "The built-in demo needs nothing else: it trains a teacher, a base and a student"
        )
        self.custom = QWidget()
        custom = QVBoxLayout(self.custom)
        custom.setContentsMargins(0, 0, 0, 0)
        self.dataset = DatasetForm()
        custom.addWidget(self.dataset)
        custom.addWidget(self._roles_box())
        self.kd = KDLossForm()
        custom.addWidget(self.kd)
        custom.addWidget(self._training_box())
        custom.addWidget(self._analysis_box())
        self.analysis = AnalyzeForm()
        self.out_dir = PathField(
            "Where the run or report is written (config, checkpoints, metrics, maps)",
            "a new folder under the runs folder",
            "folder",
        )
        self.device = QComboBox()
        self.device.addItem(DEVICE_TEXT["cpu"], "cpu")
        self.device.setToolTip("Where training and analysis run; CUDA is offered when a GPU is usable")
        _narrow(self.device, 10)
        self.description = QLabel()
        self.description.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Folder", self.out_dir)
        form.addRow("Device", self.device)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.description)
        layout.addWidget(self.custom)
        layout.addWidget(self.analysis)
        layout.addStretch(1)
        self._archs: dict[str, dict[str, Any]] = {}
        self._fill(sorted(set(DEFAULT_ARCH.values())))  # until the engine's list arrives
        self.roles["student"].arch.currentTextChanged.connect(self._on_arch)
        self.preset.currentIndexChanged.connect(self._on_preset)
        self._on_preset()
        model.events.busy.connect(self.set_locked)
        model.events.run.connect(self._on_run)
        guard_wheel(self)  # the wheel scrolls the form; it changes a field only once clicked into

    # -- sections --------------------------------------------------------------------------
    def _roles_box(self) -> QGroupBox:
        box = QGroupBox("Models (train or load each role)")
        grid = QGridLayout(box)
        for column, title in enumerate(("role", "train/load", "architecture", "epochs")):
            grid.addWidget(QLabel(f"<i>{title}</i>"), 0, column)
        grid.setColumnStretch(2, 1)
        self.roles = {role: RoleRow(role, grid, 2 * row - 1, self) for row, role in enumerate(ROLES, start=1)}
        return box

    def _training_box(self) -> QGroupBox:
        box = QGroupBox("Training")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(1e-4, 10)
        self.lr.setValue(0.05)
        self.lr.setToolTip("Learning rate shared by every trained role")
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(64)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seeds data order, initial weights and every sampled set")
        self.processes = QSpinBox()
        self.processes.setRange(1, 64)
        self.processes.setToolTip(
            "Local processes training together (DistributedDataParallel, Gloo on CPUs, NCCL on GPUs); "
            "the batch size is the global batch and must be a multiple of this"
        )
        form = QFormLayout(box)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Seed", self.seed)
        form.addRow("Processes", self.processes)
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
        _narrow(self.embedding, 14)
        form = QFormLayout(box)
        form.addRow("Layers", self.layers)
        form.addRow("Class embeddings", self.embedding)
        form.addRow("Probe images", self.probe_size)
        return box

    # -- choices ---------------------------------------------------------------------------
    def _fill(self, archs: list[str]) -> None:
        for row in self.roles.values():
            row.arch.set_names(archs, DEFAULT_ARCH[row.role])
        self.analysis.set_archs(archs)

    def set_choices(self, choices: dict[str, Any]) -> None:
        """Fill the lists from ``gui.jobs.choices.read_choices()``: the built-in architectures, then
        every ``timm:<name>``; the KD losses; the devices."""
        self._archs = dict(choices["architectures"])
        self._fill([*self._archs, *choices.get("timm", [])])
        self.kd.set_losses(choices["losses"])
        for device in choices.get("devices", []):
            if self.device.findData(device) < 0:
                self.device.addItem(DEVICE_TEXT.get(device, device), device)
        self._on_arch()

    @Slot()
    def _on_arch(self) -> None:
        name = self.roles["student"].arch.arch()
        spec = self._archs.get(name)
        if name.startswith("timm:"):
            self.layers.setText(
                "CAM layer and metric taps from timm's feature_info: the last stages (plain ViTs: blocks)"
            )
        elif spec:
            self.layers.setText(
                f"student CAM layer <b>{spec['cam_layer']}</b>; metric taps {', '.join(spec['metric_taps'])} "
                "(the architecture's defaults)"
            )

    @Slot()
    def _on_preset(self) -> None:
        self.out_dir.setText("")  # each preset starts in a new folder of its own
        self.custom.setVisible(not self.preset_key())
        self.analysis.setVisible(self.preset_key() == ANALYZE)
        self.description.setText(PRESET_TEXT.get(self.preset_key(), ""))
        self.preset_changed.emit(self.preset_key())

    def _on_run(self, run_dir: str | None) -> None:
        """The typed folder now holds a run: the next Start gets a new folder, not this one."""
        typed = self.out_dir.text()
        if run_dir and typed and Path(typed).expanduser().resolve() == Path(run_dir).resolve():
            self.out_dir.setText("")

    # -- results ---------------------------------------------------------------------------
    def chosen_job(self, confirm: Callable[[str], bool]) -> JobChoice:
        """What Start starts now: a demo preset, a custom run with its config, or an analysis with
        its checked config (``confirm`` asks the user before a model file's code may run)."""
        preset, device = self.preset_key(), self.device_name()
        out_dir = self.out_dir.text().strip()
        choice = JobChoice(preset, device, out_dir, self.process_count(), self.embedding_source())
        if preset == ANALYZE:
            config, problem = self.analysis.checked_config(out_dir, device, confirm)
            return replace(choice, config=config, problem=problem)
        if preset == CUSTOM:
            return replace(choice, config=self.config_dict(), problem=self.dataset.problem())
        return choice

    def preset_key(self) -> str:
        """The demo preset chosen, "" for a custom run, or ``ANALYZE``."""
        return str(self.preset.currentData() or "")

    def set_preset(self, key: str) -> None:
        index = self.preset.findData(key)
        if index >= 0:
            self.preset.setCurrentIndex(index)

    def config_dict(self) -> dict[str, Any]:
        """The custom run as a ``TrainConfig.from_dict`` mapping (validated by the engine)."""
        roles = {role: row.to_dict() for role, row in self.roles.items()}
        return {
            **roles,
            "dataset": {"source": self.dataset.source_text(), "image_size": self.dataset.image_size.value()},
            "kd": self.kd.value(),
            "optimizer": {"lr": self.lr.value()},
            "batch_size": self.batch.value(),
            "seed": self.seed.value(),
            "probe_size": self.probe_size.value(),
            "device": self.device_name(),
        }

    def process_count(self) -> int:
        """Local processes a custom training run uses (1: this window's child process alone)."""
        return int(self.processes.value())

    def device_name(self) -> str:
        """``cpu`` or ``cuda``: where the job runs."""
        return str(self.device.currentData() or "cpu")

    def set_locked(self, locked: bool) -> None:
        """Lock the choices while a job runs (the description stays readable)."""
        for widget in (self.preset, self.out_dir, self.device, self.custom, self.analysis):
            widget.setEnabled(not locked)

    def embedding_source(self) -> str:
        return str(self.embedding.currentData())


def _narrow(box: QComboBox, characters: int) -> None:
    """A combo box that may be narrower than its longest entry (a narrow dock must not clip)."""
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(characters)
