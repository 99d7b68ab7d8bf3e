"""How any job is driven, and what its failures mean (STYLE.md "Jobs are generators").

A job factory takes a :class:`~engine.events.StopToken` and returns the job's generator of
events. :func:`drive` runs one to its end and applies the one error policy every runner shares
(the window's worker thread and the child process that runs training): warnings become log
lines (:mod:`engine.jobs.warnings_log`), a stop becomes a
stopped ``JobFinished``, a :class:`~engine.errors.KDLensError` is a user error whose message is
shown as it is, anything else is a bug reported with its traceback. Nothing here imports Qt.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import KDLensError
from engine.events import JobFinished, JobStopped, StopToken
from engine.jobs.warnings_log import warnings_as_log

__all__ = ["JobFactory", "JobFailed", "JobFailure", "drive"]

JobFactory = Callable[[StopToken], Iterator[Any]]


@dataclass(frozen=True)
class JobFailure:
    """Why a job ended early: ``message`` for people, ``details`` (a traceback) for bugs only."""

    message: str
    details: str = ""


class JobFailed(Exception):
    """Carries a failure already classified elsewhere (e.g. in a child process) through a job
    unchanged, so it is reported once, as it was first classified."""

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def classify(exc: BaseException) -> JobFailure:
    """The one error policy: user errors by message, everything else as a bug with traceback."""
    if isinstance(exc, JobFailed):
        return exc.failure
    if isinstance(exc, KDLensError):
        return JobFailure(str(exc))
    details = "".join(traceback.format_exception(exc))
    return JobFailure(f"Unexpected error: {type(exc).__name__}: {exc}", details)


def drive(factory: JobFactory, stop: StopToken, on_event: Callable[[Any], None]) -> JobFailure | None:
    """Run ``factory(stop)``, passing each event to ``on_event``; None when the job ended by
    itself or by a stop (then a stopped ``JobFinished`` is passed on), else its failure."""
    try:
        for event in warnings_as_log(factory(stop)):
            on_event(event)
    except JobStopped:
        on_event(JobFinished(summary={}, stopped=True))
    except Exception as exc:  # the policy above decides what the user sees
        return classify(exc)
    return None
