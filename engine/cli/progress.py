"""A job's events on a terminal: one progress bar (stderr), a line per finished epoch and per
log message, nothing for maps and metrics rows. Every subcommand shows its job through here."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm

from engine.events import EpochSummary, Event, JobFinished, LogLine, Progress
from engine.jobs.warnings_log import warnings_as_log

__all__ = ["show_job"]


def show_job(events: Iterable[Event], on_event=None) -> JobFinished | None:
    """Consume ``events`` with a progress bar; ``on_event`` also sees every event. Returns the
    job's JobFinished (None when it ended without one)."""
    bar: tqdm | None = None  # opened at the first step, so an early input error prints one line
    finished = None
    try:
        for event in warnings_as_log(events):
            if on_event is not None:
                on_event(event)
            if isinstance(event, Progress):
                if bar is None:
                    bar = tqdm(total=event.total, unit="step", file=sys.stderr, dynamic_ncols=True)
                bar.total = event.total
                bar.n = event.done
                training = event.stage == "train"
                bar.set_description(f"{event.role} epoch {event.epoch}" if training else event.stage)
                if event.loss is not None:
                    bar.set_postfix(loss=f"{event.loss:.3f}", acc=f"{event.accuracy or 0:.2f}", refresh=False)
                bar.refresh()
            elif isinstance(event, EpochSummary):
                heldout = "n/a" if event.heldout_accuracy is None else f"{event.heldout_accuracy:.3f}"
                tqdm.write(
                    f"{event.role:>9} epoch {event.epoch:3d}: loss {event.train_loss:.3f}, train acc "
                    f"{event.train_accuracy:.3f}, held-out acc {heldout} ({event.seconds:.1f} s)",
                    file=sys.stderr,
                )
            elif isinstance(event, LogLine):
                tqdm.write(f"{event.level}: {event.message}", file=sys.stderr)
            elif isinstance(event, JobFinished):
                finished = event
    finally:
        if bar is not None:
            bar.close()
    return finished
