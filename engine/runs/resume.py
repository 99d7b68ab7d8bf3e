"""Reopening a run folder to continue it: what was committed, what is past the commit (dropped),
and what is damaged (repaired by going back to the last good epoch, or named exactly).

An epoch is *good* for a role when its history line is there and its training state reads back
(``train_state/<role>_epoch_NNNN.pt``; ``<role>.pt`` in folders of earlier versions, if it holds
that epoch). Base and student go back together, since they train in lockstep. The writer
(:mod:`engine.runs.writer`) keeps the committed epoch's state and the one before, so a damaged
last epoch costs one epoch, never the run.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.atomic import atomic_remove
from engine.events import EpochSummary, Evidence, MetricsRow
from engine.runs.folder import RunDamagedError, RunDir
from engine.vocab import KD_ROLES, ROLES

__all__ = ["Reopened", "history_order", "kd_epoch", "read_train_state", "reopen_run", "state_files"]

_STATE_NAME = re.compile(r"^(?P<role>[a-z]+)_epoch_(?P<epoch>\d{4,})\.pt$")
_EPOCH_CHECKPOINT = re.compile(r"^(?P<role>[a-z]+)_epoch_(?P<epoch>\d{4,})\.(safetensors|json)$")


@dataclass
class Reopened:
    """What a resume starts from: the good committed epochs and the rows that belong to them."""

    completed: dict[str, int]
    history: list[EpochSummary]
    metrics: list[MetricsRow]
    evidence: list[Evidence]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # read while checking
    notes: list[str] = field(default_factory=list)  # what was damaged, and what was done
    changed: bool = False  # the commit itself must be written again


def kd_epoch(completed: dict[str, int]) -> int:
    """The last epoch that base and student (those that train) have both committed."""
    return min((completed[role] for role in KD_ROLES if role in completed), default=0)


def history_order(summary: EpochSummary) -> tuple[int, int, int]:
    """Stream order of the history: teacher, assistant, then the KD epochs (base, then student)."""
    phase = 2 if summary.role in KD_ROLES else ROLES.index(summary.role) if summary.role in ROLES else 3
    return phase, summary.epoch, ROLES.index(summary.role) if summary.role in ROLES else 9


def read_train_state(run: RunDir, role: str, epoch: int) -> tuple[dict[str, Any] | None, str]:
    """(state, "") when ``role``'s training state after ``epoch`` reads back; else (None, why)."""
    path = run.train_state_path(role, epoch)
    legacy = run.legacy_train_state_path(role)
    if not path.is_file() and legacy.is_file():
        path = legacy
    name = path.relative_to(run.path).as_posix()
    if not path.is_file():
        return None, f"{name} is missing"
    try:
        state = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for a cut or garbled file
        return None, f"{name} cannot be read ({type(exc).__name__}: {str(exc)[:120]})"
    if not isinstance(state, dict) or "model" not in state:
        return None, f"{name} is not a KD Lens training state"
    if int(state.get("epoch", -1)) != epoch:
        return None, (
            f"{name} holds epoch {state.get('epoch')}, not the committed epoch {epoch} (an earlier KD Lens "
            "wrote it after the epoch and was stopped before committing it)"
        )
    return state, ""


def state_files(run: RunDir) -> list[tuple[str, int, Any]]:
    """(role, epoch, path) of every per-epoch training state in the folder."""
    folder = run.path / "train_state"
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STATE_NAME.match(path.name)
            if match:
                found.append((match["role"], int(match["epoch"]), path))
    return found


def _good(run: RunDir, roles: list[str], epoch: int, lines: set, states: dict) -> list[str]:
    """Why ``epoch`` is not a good resume point of ``roles`` (empty: it is); reads the states."""
    if epoch == 0:
        return []
    problems = [
        f"history.jsonl has no line for {role} epoch {epoch}" for role in roles if (role, epoch) not in lines
    ]
    for role in roles:
        state, why = read_train_state(run, role, epoch)
        if state is None:
            problems.append(why)
        else:
            states[role] = state
    return problems


def _groups(completed: dict[str, int]) -> list[list[str]]:
    kd = [role for role in KD_ROLES if role in completed]
    return [[role] for role in completed if role not in KD_ROLES] + ([kd] if kd else [])


def reopen_run(run: RunDir) -> Reopened:
    """Check a run folder for resuming: drop temp files of killed writes, keep what belongs to the
    good committed epochs, go back one epoch where the last one is damaged, remove files past
    that point. Raises :class:`RunDamagedError` naming every damaged file when it cannot."""
    for stale in run.path.rglob(".*.tmp"):  # a temp file of a write that was killed
        atomic_remove(stale)
    completed = run.completed_epochs() if run.state_path.exists() else {}
    cut: list[str] = []
    history = run.read_history(cut)
    found = Reopened(completed, history, run.read_metrics(cut), run.read_evidence(cut))
    found.changed = not run.state_path.exists()
    lines = {(s.role, s.epoch) for s in history}
    for roles in _groups(completed):
        epoch = min(completed[role] for role in roles)
        problems = _good(run, roles, epoch, lines, found.states)
        if not problems:
            continue
        if epoch == 0 or _good(run, roles, epoch - 1, lines, found.states):
            raise RunDamagedError(
                f"{run.path} is damaged and cannot be resumed: {'; '.join(problems)}. Restore those files "
                "from a copy, or start the run again in a new folder with its config.json"
            )
        for role in roles:
            completed[role] = epoch - 1
            if epoch - 1 == 0:
                found.states.pop(role, None)
        damage = "; ".join(problems)
        who = ", ".join(roles)
        found.notes.append(f"{who} epoch {epoch} is damaged ({damage}); resuming from epoch {epoch - 1}")
        found.changed = True
    found.notes.extend(f"{line} dropped" for line in cut)
    _drop_past(run, found)
    return found


def _drop_past(run: RunDir, found: Reopened) -> None:
    """Keep only rows and files of the committed epochs (and states of the epoch before)."""
    completed, kd = found.completed, kd_epoch(found.completed)
    found.history = sorted(
        (s for s in found.history if s.epoch <= completed.get(s.role, 0)), key=history_order
    )
    found.metrics = [r for r in found.metrics if r.epoch <= kd]
    found.evidence = [e for e in found.evidence if e.epoch <= kd]
    for epoch, _step, path in run.probe_files():
        if epoch > kd:
            atomic_remove(path)
    epochs_folder = run.path / "checkpoints" / "epochs"
    if epochs_folder.is_dir():
        for path in sorted(epochs_folder.iterdir()):
            match = _EPOCH_CHECKPOINT.match(path.name)
            if match and int(match["epoch"]) > completed.get(match["role"], 0):
                atomic_remove(path)
    for role, epoch, path in state_files(run):
        if not completed.get(role, 0) - 1 <= epoch <= completed.get(role, 0):
            atomic_remove(path)
