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
    train_state/<role>.pt            optimiser, schedule and RNG state of the last complete epoch

Every file is written whole and atomically (temp file, fsync, rename), ``state.json`` last, so
a run stopped at any moment reads as its last complete epoch. The writer is
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

__all__ = ["NotARunError", "RunDir", "history_line", "metrics_line"]

_PROBE_NAME = re.compile(r"^epoch_(\d{4,})(?:_step_(\d{6,}))?\.npz$")


class NotARunError(KDLensError):
    """A folder that holds no KD Lens run (no config.json / state.json)."""


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

    def train_state_path(self, role: str) -> Path:
        return self.path / "train_state" / f"{role}.pt"

    # readers
    def is_run(self) -> bool:
        return self.config_path.is_file() and self.state_path.is_file()

    def require_run(self) -> None:
        if not self.path.is_dir():
            raise NotARunError(f"{self.path} does not exist; pick a KD Lens run folder")
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

    def read_history(self) -> list[EpochSummary]:
        return [EpochSummary(**row) for row in _read_jsonl(self.history_path)]

    def read_metrics(self) -> list[MetricsRow]:
        return [MetricsRow(**row) for row in _read_jsonl(self.metrics_path)]

    def read_evidence(self) -> list[Evidence]:
        return [
            Evidence(**{**row, "rows": tuple(row.get("rows", ()))}) for row in _read_jsonl(self.evidence_path)
        ]

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
        return {role: int(epoch) for role, epoch in self.read_state().get("completed", {}).items()}


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
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NotARunError(f"cannot read {path} ({exc}); the run folder is damaged") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
