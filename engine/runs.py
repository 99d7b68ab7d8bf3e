"""The run directory (SPEC §7): where a training run keeps everything, and how it is read back.

Layout of a run folder::

    config.json                      the TrainConfig, human-readable
    state.json                       last complete epoch per role (the commit point of an epoch)
    sets.json                        probe, metrics and context-batch indices (held-out split)
    history.jsonl                    one EpochSummary per line (per epoch and role)
    metrics.jsonl                    one MetricsRow per line
    probe/epoch_0003.npz             the ProbeFrame of an epoch end (``_step_000040`` mid-epoch)
    checkpoints/<role>.safetensors   latest weights (+ the checkpoint sidecar)
    checkpoints/epochs/<role>_epoch_0003.safetensors   per-epoch weights of base and student
    train_state/<role>.pt            optimiser, schedule and RNG state of the last complete epoch

Every file is written whole and atomically (temp file, fsync, rename), ``state.json`` last, so
a run stopped at any moment reads as its last complete epoch. :func:`replay` re-yields what the
run streamed, for the GUI to open an old run.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import KDLensError
from engine.events import EpochSummary, Event, JobFinished, MetricsRow, ProbeFrame

__all__ = ["NotARunError", "RunDir", "decode_probe_frame", "encode_probe_frame", "replay"]

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

    def read_config(self):
        from engine.training.config import TrainConfig

        self.require_run()
        return TrainConfig.load(self.config_path)

    def read_state(self) -> dict[str, Any]:
        self.require_run()
        return _read_json(self.state_path)

    def read_sets(self) -> dict[str, Any]:
        return _read_json(self.sets_path) if self.sets_path.is_file() else {}

    def read_history(self) -> list[EpochSummary]:
        return [EpochSummary(**row) for row in _read_jsonl(self.history_path)]

    def read_metrics(self) -> list[MetricsRow]:
        return [MetricsRow(**row) for row in _read_jsonl(self.metrics_path)]

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
        return decode_probe_frame(Path(path).read_bytes())

    def completed_epochs(self) -> dict[str, int]:
        return {role: int(epoch) for role, epoch in self.read_state().get("completed", {}).items()}


def encode_probe_frame(frame: ProbeFrame) -> bytes:
    """A ProbeFrame as the bytes of an ``.npz`` (arrays by prefixed name, the rest as JSON)."""
    arrays: dict[str, np.ndarray] = {"images": frame.images, "labels": np.asarray(frame.labels)}
    for prefix, group in (("maps", frame.maps), ("signed", frame.signed), ("raw", frame.raw)):
        for name, value in group.items():
            arrays[f"{prefix}/{name}"] = np.asarray(value)
    for role, value in frame.predictions.items():
        arrays[f"predictions/{role}"] = np.asarray(value)
    if frame.masks is not None:
        arrays["masks"] = np.asarray(frame.masks)
    if frame.indices is not None:
        arrays["indices"] = np.asarray(frame.indices)
    meta = {"epoch": frame.epoch, "class_names": list(frame.class_names), "flags": frame.flags}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode_probe_frame(data: bytes) -> ProbeFrame:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
        groups: dict[str, dict[str, np.ndarray]] = {"maps": {}, "signed": {}, "raw": {}, "predictions": {}}
        for key in npz.files:
            prefix, _, name = key.partition("/")
            if name and prefix in groups:
                groups[prefix][name] = npz[key]
        return ProbeFrame(
            epoch=int(meta["epoch"]),
            images=npz["images"],
            labels=npz["labels"],
            class_names=tuple(meta["class_names"]),
            maps=groups["maps"],
            signed=groups["signed"],
            raw=groups["raw"],
            predictions=groups["predictions"],
            masks=npz["masks"] if "masks" in npz.files else None,
            indices=npz["indices"] if "indices" in npz.files else None,
            flags=meta["flags"],
        )


def history_line(summary: EpochSummary) -> str:
    return json.dumps(asdict(summary))


def metrics_line(row: MetricsRow) -> str:
    return json.dumps(asdict(row))


def replay(run_dir: str | Path | RunDir) -> Iterator[Event]:
    """Re-yield a run's stored EpochSummary, ProbeFrame and MetricsRow events in the order they
    were streamed, then one JobFinished (``stopped`` when the run did not finish)."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    run.require_run()
    state = run.read_state()
    kd_roles = ("base", "student")
    frames: dict[int, list[tuple[int | None, Path]]] = {}
    for epoch, step, path in run.probe_files():
        frames.setdefault(epoch, []).append((step, path))
    rows: dict[int, list[MetricsRow]] = {}
    for row in run.read_metrics():
        rows.setdefault(row.epoch, []).append(row)

    def epoch_end(epoch: int) -> Iterator[Event]:
        for step, path in frames.pop(epoch, []):
            if step is None:
                yield run.read_probe(path)
        yield from rows.pop(epoch, [])

    history = run.read_history()
    kd_epochs_seen: set[int] = set()
    for index, summary in enumerate(history):
        if summary.role in kd_roles and summary.epoch not in kd_epochs_seen:
            kd_epochs_seen.add(summary.epoch)
            for step, path in frames.get(summary.epoch, []):
                if step is not None:
                    yield run.read_probe(path)
        yield summary
        later = history[index + 1 :]
        last_of_epoch = summary.role in kd_roles and not any(
            s.role in kd_roles and s.epoch == summary.epoch for s in later
        )
        if last_of_epoch:
            yield from epoch_end(summary.epoch)
    for epoch in sorted(set(frames) | set(rows)):  # epochs without a KD summary (loaded roles)
        yield from epoch_end(epoch)
    yield JobFinished(
        summary=dict(state.get("summary", {})),
        stopped=not state.get("finished", False),
        out_dir=str(run.path),
    )


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


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a probe frame's flags")
