"""What a rank other than 0 of a distributed run has in place of rank 0's run writer and live
explanations: it trains its share of every step and joins rank 0's FSS/RS when they are due, but
writes nothing and shows nothing (rank 0 alone owns the run folder and the events the user sees).
With these stand-ins the session reads the same on every rank (:mod:`engine.training.session`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from torch import nn

from engine.distributed.group import Group, LocalGroup
from engine.errors import KDLensError
from engine.events import Event
from engine.runs.folder import RunDir
from engine.training.explanations import LiveExplanations

__all__ = ["FollowerExplanations", "FollowerWriter"]


class FollowerWriter:
    """The faces of :class:`engine.runs.writer.RunWriter` a session uses, writing nothing: the
    committed epochs come from rank 0 (the session receives them), so none are read here."""

    def __init__(self, path: str | Path) -> None:
        self.run = RunDir(path)
        self.completed: dict[str, int] = {}

    def load_train_state(self, role: str) -> None:
        """Nothing: rank 0 reads the state and hands it to every rank."""
        return None

    def add_summaries(self, summaries: list) -> None:
        return None

    def save_role(
        self, role: str, model: nn.Module, card: Any, epoch: int, train_state: dict, **_: Any
    ) -> Path:
        """Nothing written; the path is where rank 0 writes the role's weights."""
        return self.run.checkpoint_path(role)

    def commit(self, finished: bool = False, summary: dict[str, Any] | None = None) -> None:
        return None


class FollowerExplanations(LiveExplanations):
    """No probe frames, evidence or files; only this rank's share of rank 0's FSS/RS."""

    def teacher_frame(self, teacher: nn.Module, teacher_epoch: int) -> Iterator[Event]:
        return iter(())

    def complete_teacher(self, teacher: nn.Module, committed: int) -> Iterator[Event]:
        return iter(())

    def complete_kd(self, models, committed: int, due) -> Iterator[Event]:
        """Nothing: rank 0 completes cut-short explanations alone."""
        return iter(())

    def kd_epoch(
        self, models, epoch: int, *, metrics: bool = False, group: Group = LocalGroup(), **_
    ) -> Iterator:
        """This rank's share of the FSS/RS that rank 0 computes at the same point (an input error
        is rank 0's to report)."""
        if self.config.metrics and metrics:
            with suppress(KDLensError):
                self._metrics(models, epoch, group)
        return iter(())
