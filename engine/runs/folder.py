"""The run directory (SPEC §7): where a training run keeps everything, and how it is read back.

Layout of a run folder::

    config.json                      the TrainConfig, human-readable
    state.json                       last complete epoch per role (the commit point of an epoch)
    sets.json                        probe, metrics and context-batch indices (held-out split)
    history.jsonl                    one EpochSummary per line (per epoch and role)
    metrics.jsonl                    one MetricsRow per line
    evidence.jsonl                   one Evidence table per line (localisation, faithfulness, sanity)
    probe/epoch_0003.npz             the ProbeFrame of an epoch end (``_step_000040`` mid-epoch;
                                     epoch_0000: the teacher's maps while it trained)
    checkpoints/<role>.safetensors   latest weights (+ the checkpoint sidecar)
    checkpoints/epochs/<role>_epoch_0003.safetensors   per-epoch weights of base and student
    train_state/<role>_epoch_0003.pt optimiser, schedule and RNG state after an epoch (the committed
                                     epoch's and the one before; ``<role>.pt`` in older folders)
    .kdlens.lock                     held by the one process writing the run (engine.runs.lock)

Every file is written whole and atomically (temp file, fsync, rename), and ``state.json`` last:
it is the one commit of an epoch. Files of an epoch are written under the epoch's name (or are
replaced again when it is trained again), so a run stopped at any moment reads as its last
committed epoch, and a resume continues from exactly that state. The writer is
:mod:`engine.runs.writer`; :mod:`engine.runs.replay` re-yields what a run streamed. Probe
frames use the one frame codec (:mod:`engine.frames`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine.errors import KDLensError
from engine.events import EpochSummary, Evidence, MetricsRow, ProbeFrame
from engine.frames import read_probe_frame

__all__ = ["NotARunError", "RunDamagedError", "RunDir", "history_line", "metrics_line"]

_PROBE_NAME = re.compile(r"^epoch_(\d{4,})(?:_step_(\d{6,}))?\.npz$")


class NotARunError(KDLensError):
    """A folder that holds no KD Lens run (no config.json / state.json)."""


class RunDamagedError(NotARunError):
    """A run folder whose files cannot be read back; the message names the file and the damage."""


class RunDir:
    """Paths inside one run folder, and readers for what it holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def sets_path(self) -> Path:
        return self.path / "sets.json"

    @property
    def history_path(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def evidence_path(self) -> Path:
        return self.path / "evidence.jsonl"

    @property
    def probe_dir(self) -> Path:
        return self.path / "probe"

    def probe_path(self, epoch: int, step: int | None = None) -> Path:
        suffix = "" if step is None else f"_step_{step:06d}"
        return self.probe_dir / f"epoch_{epoch:04d}{suffix}.npz"

    def checkpoint_path(self, role: str, epoch: int | None = None) -> Path:
        if epoch is None:
            return self.path / "checkpoints" / f"{role}.safetensors"
        return self.path / "checkpoints" / "epochs" / f"{role}_epoch_{epoch:04d}.safetensors"

    def train_state_path(self, role: str, epoch: int | None = None) -> Path:
        """The training state of ``role`` after ``epoch`` (None: its committed epoch)."""
        if epoch is None:
            epoch = self.completed_epochs().get(role, 0)
        return self.path / "train_state" / f"{role}_epoch_{epoch:04d}.pt"

    def legacy_train_state_path(self, role: str) -> Path:
        """Where folders written before per-epoch training states kept a role's state."""
        return self.path / "train_state" / f"{role}.pt"

    # readers
    def is_run(self) -> bool:
        return self.config_path.is_file() and self.state_path.is_file()

    def is_started(self) -> bool:
        """A run whose start was cut short: its configuration is written, its first commit is not."""
        return self.config_path.is_file() and not self.state_path.exists()

    def require_run(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise NotARunError(f"{self.path} is a file, not a folder; pick a KD Lens run folder")
        if not self.path.is_dir():
            raise NotARunError(f"{self.path} does not exist; pick a KD Lens run folder")
        if self.state_path.is_file() and not self.config_path.is_file():
            raise RunDamagedError(
                f"{self.path} is a damaged run folder: its state.json is there but its config.json is "
                "missing, so the run cannot be resumed or shown; restore config.json from a copy"
            )
        if not self.is_run():
            raise NotARunError(
                f"{self.path} is not a KD Lens run folder (it has no config.json and state.json); "
                "pick the folder that `kdlens-cli train --out` or `demo --out` created"
            )

    def read_state(self) -> dict[str, Any]:
        self.require_run()
        return _read_json(self.state_path)

    def read_sets(self) -> dict[str, Any]:
        return _read_json(self.sets_path) if self.sets_path.is_file() else {}

    def read_history(self, cut: list[str] | None = None) -> list[EpochSummary]:
        """Every stored EpochSummary. A last line cut short (a copy or disk that stopped mid-line)
        is left out and named in ``cut``; any other unreadable line is a RunDamagedError."""
        return _rows(self.history_path, EpochSummary, cut)

    def read_metrics(self, cut: list[str] | None = None) -> list[MetricsRow]:
        return _rows(self.metrics_path, MetricsRow, cut)

    def read_evidence(self, cut: list[str] | None = None) -> list[Evidence]:
        return _rows(self.evidence_path, Evidence, cut)

    def probe_files(self) -> list[tuple[int, int | None, Path]]:
        """(epoch, step or None, path) of every stored probe frame, in stream order."""
        found = []
        if self.probe_dir.is_dir():
            for path in self.probe_dir.iterdir():
                match = _PROBE_NAME.match(path.name)
                if match:
                    step = None if match.group(2) is None else int(match.group(2))
                    found.append((int(match.group(1)), step, path))
        # within an epoch, mid-epoch frames (by step) come before the epoch-end frame
        return sorted(found, key=lambda item: (item[0], item[1] is None, item[1] or 0))

    def read_probe(self, path: str | Path) -> ProbeFrame:
        return read_probe_frame(path)

    def completed_epochs(self) -> dict[str, int]:
        completed = self.read_state().get("completed", {})
        counts = completed.values() if isinstance(completed, dict) else ()
        if not isinstance(completed, dict) or not all(
            isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 for epoch in counts
        ):
            raise RunDamagedError(
                f"{self.state_path} is damaged: 'completed' must map roles to epochs, got {completed!r}"
            )
        return dict(completed)


def history_line(summary: EpochSummary) -> str:
    return json.dumps(asdict(summary))


def metrics_line(row: MetricsRow) -> str:
    return json.dumps(asdict(row))


def evidence_line(table: Evidence) -> str:
    return json.dumps(asdict(table), default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in evidence.jsonl")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDamagedError(f"cannot read {path} ({exc}); the run folder is damaged") from None
    if not isinstance(data, dict):
        raise RunDamagedError(f"{path} is damaged: it holds {type(data).__name__}, not a JSON object")
    return data


def _rows(path: Path, kind: type, cut: list[str] | None) -> list:
    """The rows of a JSON-lines file as ``kind`` events (see :meth:`RunDir.read_history`)."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDamagedError(f"cannot read {path} ({exc}); the run folder is damaged") from None
    lines = text.splitlines()
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if kind is Evidence:
                row = {**row, "rows": tuple(row.get("rows", ()))}
            out.append(kind(**row))
        except (ValueError, TypeError) as exc:
            torn = number == len(lines) and not text.endswith("\n")
            if torn and cut is not None:
                cut.append(f"{path.name} line {number} (cut short)")
                continue
            fix = (
                "resume the run (kdlens-cli train --resume) to repair it"
                if torn
                else "restore the file from a copy, or remove that line to keep the rest"
            )
            raise RunDamagedError(f"{path} line {number} is damaged ({exc}); {fix}") from None
    return out
