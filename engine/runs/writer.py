"""Writing a run directory while training runs (the reading side is :mod:`engine.runs.folder`).

Each write replaces a whole file atomically. The JSON-lines files are small (a line per epoch
and role, a few dozen metrics per epoch), so they are rewritten whole rather than appended:
a kill in the middle of a write leaves the previous complete file, never half a line.

An epoch's files are written first -- weights, and the training state under the epoch's own name
(``train_state/<role>_epoch_NNNN.pt``) -- and ``commit`` then switches to the epoch in one step
by writing ``state.json``. A resume reads the state of exactly the committed epoch, whatever was
written after it; :mod:`engine.runs.resume` drops the rest and repairs damage.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_remove, atomic_write_bytes, atomic_write_text
from engine.checkpoints import ModelCard, save_checkpoint
from engine.events import EpochSummary, Evidence, MetricsRow, ProbeFrame
from engine.frames import FrameFormatError, read_probe_frame, write_probe_frame
from engine.runs.folder import RunDamagedError, RunDir, evidence_line, history_line, metrics_line
from engine.runs.resume import history_order, read_train_state, reopen_run, state_files
from engine.vocab import TEACHER_PHASE_EPOCH

__all__ = ["RunWriter"]


class RunWriter:
    """Owns the writes of one run folder; keeps history and metrics in memory between writes."""

    def __init__(self, path: str | Path) -> None:
        self.run = RunDir(path)
        self.history: list[EpochSummary] = []
        self.metrics: list[MetricsRow] = []
        self.evidence: list[Evidence] = []
        self.completed: dict[str, int] = {}
        self._states: dict[str, dict[str, Any]] = {}

    def start(self, config_json: str, sets: dict[str, Any]) -> None:
        """A fresh run: the configuration and the fixed probe / metrics / context sets."""
        self.run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.config_path, config_json)
        atomic_write_text(self.run.sets_path, json.dumps(sets, indent=2) + "\n")
        self.commit(finished=False)

    def reopen(self, sets: dict[str, Any] | None = None) -> list[str]:
        """Resume: keep only what belongs to the good committed epochs, and rewrite what changed.
        Returns what was found damaged and repaired (a sentence each). ``sets`` are written when
        the run's start was cut short before they were."""
        found = reopen_run(self.run)
        self.completed, self._states = found.completed, found.states
        self.history, self.metrics, self.evidence = found.history, found.metrics, found.evidence
        if sets is not None and not self.run.sets_path.is_file():
            atomic_write_text(self.run.sets_path, json.dumps(sets, indent=2) + "\n")
        self._write_history(only_if_changed=True)
        self._write_metrics(only_if_changed=True)
        self._write_evidence(only_if_changed=True)
        if found.changed:
            self.commit(finished=False)
        return found.notes

    def add_summaries(self, summaries: list[EpochSummary]) -> None:
        self.history.extend(summaries)
        self._write_history()

    def add_metrics(self, rows: list[MetricsRow]) -> None:
        self.metrics.extend(rows)
        self._write_metrics()

    def add_evidence(self, tables: list[Evidence]) -> None:
        self.evidence.extend(tables)
        self._write_evidence()

    def write_probe(self, frame: ProbeFrame, step: int | None = None) -> Path:
        path = self.run.probe_path(frame.epoch, step)
        return write_probe_frame(path, frame)

    # what a resume may have to complete
    def has_frame(self, epoch: int) -> bool:
        return self.run.probe_path(epoch).is_file()

    def has_metrics(self, epoch: int) -> bool:
        return any(row.epoch == epoch for row in self.metrics)

    def has_evidence(self, epoch: int) -> bool:
        return any(table.epoch == epoch for table in self.evidence)

    def teacher_frame_epoch(self) -> int:
        """The teacher epoch whose maps the teacher-phase frame holds (0: none, or unreadable)."""
        path = self.run.probe_path(TEACHER_PHASE_EPOCH)
        if not path.is_file():
            return 0
        try:
            return int(read_probe_frame(path).flags.get("teacher_epoch", 0))
        except (FrameFormatError, OSError, ValueError):
            return 0

    def save_role(
        self,
        role: str,
        model: nn.Module,
        card: ModelCard,
        epoch: int,
        train_state: dict[str, Any],
        keep_epoch: bool = False,
    ) -> Path:
        """Latest weights (+ a per-epoch copy when ``keep_epoch``) and the state to resume from,
        under the epoch's name; none of it counts until :meth:`commit`."""
        path = self.run.checkpoint_path(role)
        save_checkpoint(model, path, card)
        if keep_epoch:
            save_checkpoint(model, self.run.checkpoint_path(role, epoch), card)
        buffer = io.BytesIO()
        torch.save({"epoch": epoch, **train_state}, buffer)
        atomic_write_bytes(self.run.train_state_path(role, epoch), buffer.getvalue())
        return path

    def load_train_state(self, role: str) -> dict[str, Any]:
        """The training state of ``role``'s committed epoch."""
        if role in self._states:
            return self._states.pop(role)
        epoch = self.completed.get(role, 0)
        state, why = read_train_state(self.run, role, epoch)
        if state is None:
            raise RunDamagedError(f"{self.run.path}: {why}; the run cannot continue from epoch {epoch}")
        return state

    def commit(self, finished: bool = False, summary: dict[str, Any] | None = None) -> None:
        """Record the completed epochs in one write: the point a resume starts from. Training
        states older than the epoch before are removed afterwards."""
        state = {"version": 2, "completed": self.completed, "finished": finished, "summary": summary or {}}
        atomic_write_text(self.run.state_path, json.dumps(state, indent=2, default=_plain) + "\n")
        for role, epoch, path in state_files(self.run):
            if epoch < self.completed.get(role, 0) - 1:
                atomic_remove(path)
        for role, epoch in self.completed.items():
            legacy = self.run.legacy_train_state_path(role)
            if legacy.exists() and self.run.train_state_path(role, epoch).is_file():
                atomic_remove(legacy)

    def _write(self, path: Path, text: str, only_if_changed: bool) -> None:
        if only_if_changed:
            try:
                if path.read_text(encoding="utf-8") == text:
                    return
            except (OSError, UnicodeDecodeError):
                if not text and not path.exists():
                    return
        atomic_write_text(path, text)

    def _write_history(self, only_if_changed: bool = False) -> None:
        self.history.sort(key=history_order)
        text = "".join(history_line(s) + "\n" for s in self.history)
        self._write(self.run.history_path, text, only_if_changed)

    def _write_evidence(self, only_if_changed: bool = False) -> None:
        if self.evidence or self.run.evidence_path.exists():
            text = "".join(evidence_line(e) + "\n" for e in self.evidence)
            self._write(self.run.evidence_path, text, only_if_changed)

    def _write_metrics(self, only_if_changed: bool = False) -> None:
        text = "".join(metrics_line(r) + "\n" for r in self.metrics)
        self._write(self.run.metrics_path, text, only_if_changed)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in state.json")
