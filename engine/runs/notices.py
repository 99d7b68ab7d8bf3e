"""What a run must say about itself beside its numbers (torch-free).

A KD result means little when the teacher it learned from is no better than a model trained on
the labels alone: the run then compares the student with a weak teacher, whatever its maps show.
When the teacher ends below the base on held-out data, the run says so plainly: training logs it
as a warning, ``state.json``'s summary keeps it under ``notices``, a replayed run's summary lists
it (an older run's too, from its history), and the window and the report show it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["NOTICES", "WEAK_TEACHER", "run_notices", "summary_notices", "teacher_notice"]

NOTICES = "notices"  # the key of a run summary's notices
WEAK_TEACHER = "the teacher is weaker than the base: KD results compare against a weak teacher"


def teacher_notice(accuracy: Mapping[str, float | None]) -> str | None:
    """The weak-teacher notice when the teacher's held-out accuracy is below the base's, else None."""
    teacher, base = accuracy.get("teacher"), accuracy.get("base")
    if not all(isinstance(value, int | float) and math.isfinite(value) for value in (teacher, base)):
        return None
    if teacher >= base:
        return None
    return f"{WEAK_TEACHER} (held-out accuracy: teacher {teacher:.1%}, base {base:.1%})"


def summary_notices(summary: Mapping[str, object], history: list) -> list[str]:
    """A run summary's notices: those it stored, else those its history shows (each role's
    held-out accuracy at its last epoch; ``history``: EpochSummary events)."""
    stored = summary.get(NOTICES)
    if isinstance(stored, list):
        return [str(notice) for notice in stored]
    last = {entry.role: entry.heldout_accuracy for entry in history}
    notice = teacher_notice(last)
    return [notice] if notice else []


def run_notices(run) -> list[str]:
    """The notices of a run folder (``run``: an ``engine.runs.RunDir``); [] when none can be read."""
    try:
        return summary_notices(dict(run.read_state().get("summary") or {}), run.read_history())
    except Exception:  # a report's facts never fail on a damaged folder; the replay says what is wrong
        return []
