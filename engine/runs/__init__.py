"""The run directory (SPEC §7): ``folder`` (its layout and readers), ``writer`` (the one writer,
used by training; import it from ``engine.runs.writer``) and ``replay`` (re-yield a run's events).
The package face stays free of torch, so the window can read run folders on its own thread."""

from engine.runs.folder import NotARunError, RunDir
from engine.runs.replay import replay

__all__ = ["NotARunError", "RunDir", "replay"]
