"""The one error of the data package, below every module of it (the image set and the sampler
both raise it)."""

from __future__ import annotations

from engine.errors import KDLensError

__all__ = ["DataError"]


class DataError(KDLensError, ValueError):
    """A data set that cannot be read or used as asked; the message says what to do."""
