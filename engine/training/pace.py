"""The pace of a training run's steps, and the time left (what the window and the CLI show as ETA).

Each phase (the teacher's, the assistant's, the KD phase of base and student) is timed on its own:
a teacher step and a lockstep KD step cost very different times. Within a phase the estimate is
known after a few steps, not after a whole epoch: the time per step is a smoothed average of the
steps measured so far (the first step of each epoch left out: it pays for start-up and for the
previous epoch's maps and metrics). Once an epoch has finished, its whole wall time per step (its
probe maps, metrics and checkpoints included) is folded in, smoothed over the epochs, so the
estimate includes what an epoch end costs without swinging with every epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FIRST_ESTIMATE_STEPS", "Pace"]

FIRST_ESTIMATE_STEPS = 3  # measured steps of a phase before its time left is given
STEP_SMOOTHING = 0.1  # weight of the newest step time in the running average
EPOCH_SMOOTHING = 0.5  # weight of the newest finished epoch's time per step


class Pace:
    """Steps done of the whole job, and the seconds left of the current phase and of the job."""

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.total = total
        self.done = 0
        self.clock = clock
        self.phase_end = 0  # ``done`` once the current phase is over
        self.last_phase = False  # no phase with steps left comes after the current one
        self._mark: float | None = None  # when the last step ended (None: an epoch starts)
        self._step_seconds: float | None = None  # smoothed seconds of one step
        self._measured = 0  # steps measured in this phase
        self._epoch_seconds: float | None = None  # smoothed wall seconds per step of whole epochs
        self._epoch_start = (clock(), 0)  # (time, done) when the current epoch started

    def start_phase(self, steps_left: int, last: bool) -> None:
        """A phase with ``steps_left`` steps begins; ``last``: nothing trains after it."""
        self.phase_end = self.done + steps_left
        self.last_phase = last
        self._step_seconds, self._epoch_seconds, self._measured = None, None, 0
        self._start_epoch()

    def step(self) -> None:
        """One step of the phase ended."""
        now = self.clock()
        if self._mark is not None:  # the epoch's first step is not a step's time
            seconds = now - self._mark
            last = self._step_seconds
            self._step_seconds = seconds if last is None else last + STEP_SMOOTHING * (seconds - last)
            self._measured += 1
        self._mark = now
        self.done += 1

    def epoch_done(self) -> None:
        """An epoch of the phase ended, its maps, metrics and checkpoints included."""
        started, done_then = self._epoch_start
        steps = self.done - done_then
        if steps > 0:
            per_step = (self.clock() - started) / steps
            last = self._epoch_seconds
            self._epoch_seconds = per_step if last is None else last + EPOCH_SMOOTHING * (per_step - last)
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._epoch_start = (self.clock(), self.done)
        self._mark = None

    def seconds_per_step(self) -> float | None:
        """The phase's measured seconds per step: whole epochs' once one has ended, else the
        smoothed steps' once a few were measured, else None."""
        if self._epoch_seconds is not None:
            return self._epoch_seconds
        if self._measured >= FIRST_ESTIMATE_STEPS:
            return self._step_seconds
        return None

    def eta(self) -> tuple[float | None, float | None]:
        """(whole job, current phase) seconds left. The phase's is None until its pace is known;
        the whole job's stays None while a later phase has not run yet, since its pace is
        unknown."""
        per_step = self.seconds_per_step()
        if per_step is None:
            return None, None
        phase_left = per_step * max(0, self.phase_end - self.done)
        return (phase_left if self.last_phase else None), phase_left
