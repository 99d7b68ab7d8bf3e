"""The setup panel's "Analyze checkpoints" form: a teacher, a KD student and a base trained
elsewhere, the data to explain them on, and how much to compute. It produces the mapping of an
``engine.jobs.analyze.AnalyzeConfig``; the engine checks it (in a child process) and names any
problem. Architectures are searchable and may stay empty when a checkpoint names its own (a KD
Lens card, a TorchScript archive). A model file runs code: the window asks before it is used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QSpinBox

from engine.evidence.registry import evidence_kinds
from engine.vocab import ANALYZED_ROLES
from gui.panels.arch_choice import ArchChoice
from gui.panels.path_field import PathField
from gui.panels.role_row import CHECKPOINT_FILTER

__all__ = ["ANALYZED_ROLES", "AnalyzeForm"]

FROM_CHECKPOINT = "from the checkpoint (card or TorchScript)"


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class AnalyzeForm(QGroupBox):
    """Checkpoints, architectures, an optional model file, data and sizes of an analysis."""

    def __init__(self) -> None:
        super().__init__("Analyze checkpoints")
        form = QFormLayout(self)
        note = QLabel(
            "Explains a teacher, a KD student and a base (the student's architecture trained without KD) "
            "into a report folder: heatmaps, FSS/RS per layer and the evidence, then shows it."
        )
        note.setWordWrap(True)
        form.addRow(note)
        self.paths: dict[str, PathField] = {}
        for role in ANALYZED_ROLES:
            self.paths[role] = PathField(
                f"The {role} checkpoint",
                ".safetensors, .pt, .pth, .ckpt, .bin, TorchScript",
                "file",
                CHECKPOINT_FILTER,
            )
            form.addRow(f"{role.capitalize()}", self.paths[role])
        self.arch_teacher = ArchChoice("The teacher's architecture", FROM_CHECKPOINT)
        self.arch_student = ArchChoice("The student's and the base's architecture", FROM_CHECKPOINT)
        form.addRow("Teacher arch", self.arch_teacher)
        form.addRow("Student arch", self.arch_student)
        self.model_file = PathField(
            "A Python file whose build(arch, num_classes) makes your own architectures (it runs code: "
            "you are asked to confirm)",
            "optional: my_models.py (runs code)",
            "file",
            "Python files (*.py)",
        )
        form.addRow("Model file", self.model_file)
        self.data = PathField(
            "shapes, an ImageFolder tree, a CIFAR folder, or a .csv/.tsv image list (type its path)",
            "shapes, a folder or a .csv list",
            "folder",
        )
        self.data.setText("shapes")
        self.split = QLineEdit("test")
        self.split.setToolTip("Which split of the data to explain (empty: the whole folder)")
        self.image_size = _spin(0, 1024, 0, "Input size in pixels; auto: what the checkpoint says")
        self.image_size.setSpecialValueText("auto")
        self.probe = _spin(4, 64, 16, "Probe images: the heatmap grid and the UniCAM context batch")
        self.metrics_n = _spin(16, 4096, 256, "Images in the FSS/RS metrics set")
        self.embeddings = QComboBox()
        self.embeddings.addItem("One-hot labels (default)", "one-hot")
        self.embeddings.addItem("Teacher prototypes (from the train split)", "prototypes")
        self.evidence = QCheckBox(f"Evidence: {', '.join(kind.title for kind in evidence_kinds())}")
        self.evidence.setChecked(True)
        for label, widget in (
            ("Data", self.data),
            ("Split", self.split),
            ("Image size", self.image_size),
            ("Probe images", self.probe),
            ("Metrics images", self.metrics_n),
            ("Class embeddings", self.embeddings),
        ):
            form.addRow(label, widget)
        form.addRow(self.evidence)

    def set_archs(self, names: list[str]) -> None:
        for box in (self.arch_teacher, self.arch_student):
            box.set_names(names)

    def problem(self) -> str | None:
        """What is missing before the analysis can start, or None."""
        missing = [role for role in ANALYZED_ROLES if not self.paths[role].text()]
        if missing:
            return f"Pick the {', '.join(missing)} checkpoint{'s' if len(missing) > 1 else ''} to analyse."
        return None

    def config_dict(self, out: str, device: str) -> dict[str, Any]:
        """An ``AnalyzeConfig`` mapping; ``trust_code`` stays False until the user confirms."""
        return {
            **{role: self.paths[role].text() for role in ANALYZED_ROLES},
            "data": self.data.text() or "shapes",
            "out": out,
            "split": self.split.text().strip() or None,
            "arch_teacher": self.arch_teacher.arch() or None,
            "arch_student": self.arch_student.arch() or None,
            "probe": self.probe.value(),
            "metrics_n": self.metrics_n.value(),
            "image_size": self.image_size.value() or None,
            "embeddings": str(self.embeddings.currentData()),
            "evidence": self.evidence.isChecked(),
            "device": device,
            "model_file": self.model_file.text() or None,
            "trust_code": False,
        }

    def checked_config(
        self, out: str, device: str, confirm: Callable[[str], bool]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(the analysis mapping, None), or (None, why it cannot start). A model file is used only
        once ``confirm`` (the window's question) says the user trusts it to run."""
        problem = self.problem()
        if problem is not None:
            return None, problem
        config = self.config_dict(out, device)
        if config["model_file"]:
            what = (
                f"{config['model_file']} is a Python model file: KD Lens runs its build() to make the models"
            )
            if not confirm(what):
                return None, "Not analysed: the model file was not trusted, so none of it ran."
            config["trust_code"] = True
        return config, None
