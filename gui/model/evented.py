"""A Qt-free signal: callbacks connected to an :class:`Emitter` run in order on every ``emit``
(napari's ``EventEmitter`` idea). The model lives on the GUI thread, so no locking is needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Emitter"]


class Emitter:
    """Holds callbacks; ``emit(*args)`` calls each with ``args``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
