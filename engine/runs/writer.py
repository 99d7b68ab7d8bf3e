"""Writing a run directory while training runs (the reading side is :mod:`engine.runs.folder`).

Each write replaces a whole file atomically. The JSON-lines files are small (a line per epoch
and role, a few dozen metrics per epoch), so they are rewritten whole rather than appended:
a kill in the middle of a write leaves the previous complete file, never half a line.
``commit`` writes ``state.json`` last; everything past the committed epoch is dropped on resume.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.checkpoints import ModelCard, save_checkpoint
from engine.events import EpochSummary, Evidence, MetricsRow, ProbeFrame
from engine.frames import write_probe_frame
from engine.runs.folder import RunDir, evidence_line, history_line, metrics_line


class RunWriter:
    """Owns the writes of one run folder; keeps history and metrics in memory between writes."""

    def __init__(self, path: str | Path) -> None:
        self.run = RunDir(path)
        self.history: list[EpochSummary] = []
        self.metrics: list[MetricsRow] = []
        self.evidence: list[Evidence] = []
        self.completed: dict[str, int] = {}

    def start(self, config_json: str, sets: dict[str, Any]) -> None:
        """A fresh run: the configuration and the fixed probe / metrics / context sets."""
        self.run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.config_path, config_json)
        atomic_write_text(self.run.sets_path, json.dumps(sets, indent=2) + "\n")
        self.commit(finished=False)

    def reopen(self) -> None:
        """Resume: keep only what belongs to the committed epochs, and rewrite it."""
        for stale in self.run.path.rglob(".*.tmp"):  # a temp file of a write that was killed
            stale.unlink()
        self.completed = self.run.completed_epochs()
        kd_epoch = min(self.completed.get("base", 0), self.completed.get("student", 0))
        self.history = [s for s in self.run.read_history() if s.epoch <= self.completed.get(s.role, 0)]
        self.metrics = [r for r in self.run.read_metrics() if r.epoch <= kd_epoch]
        self.evidence = [e for e in self.run.read_evidence() if e.epoch <= kd_epoch]
        for epoch, _step, path in self.run.probe_files():
            if epoch > kd_epoch:
                path.unlink()
        self._write_history()
        self._write_metrics()
        self._write_evidence()

    def add_summary(self, summary: EpochSummary) -> None:
        self.history.append(summary)
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

    def save_role(
        self,
        role: str,
        model: nn.Module,
        card: ModelCard,
        epoch: int,
        train_state: dict[str, Any],
        keep_epoch: bool = False,
    ) -> Path:
        """Latest weights (+ a per-epoch copy when ``keep_epoch``) and the state to resume from."""
        path = self.run.checkpoint_path(role)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model, path, card)
        if keep_epoch:
            per_epoch = self.run.checkpoint_path(role, epoch)
            per_epoch.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(model, per_epoch, card)
        buffer = io.BytesIO()
        torch.save({"epoch": epoch, **train_state}, buffer)
        state_path = self.run.train_state_path(role)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(state_path, buffer.getvalue())
        return path

    def load_train_state(self, role: str) -> dict[str, Any]:
        path = self.run.train_state_path(role)
        return torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)

    def commit(self, finished: bool = False, summary: dict[str, Any] | None = None) -> None:
        """Record the completed epochs; the point a resume starts from."""
        state = {"version": 1, "completed": self.completed, "finished": finished, "summary": summary or {}}
        atomic_write_text(self.run.state_path, json.dumps(state, indent=2, default=_plain) + "\n")

    def _write_history(self) -> None:
        atomic_write_text(self.run.history_path, "".join(history_line(s) + "\n" for s in self.history))

    def _write_evidence(self) -> None:
        if self.evidence or self.run.evidence_path.exists():
            atomic_write_text(self.run.evidence_path, "".join(evidence_line(e) + "\n" for e in self.evidence))

    def _write_metrics(self) -> None:
        atomic_write_text(self.run.metrics_path, "".join(metrics_line(r) + "\n" for r in self.metrics))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in state.json")


__all__ = ["RunWriter"]
