"""The time left (issue 21 item 10): known a few steps into a phase, not after its first whole
epoch; smoothed, so it does not swing with every step or epoch; an epoch's maps and metrics count."""

from __future__ import annotations

import pytest

from engine.training.pace import FIRST_ESTIMATE_STEPS, Pace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _steps(pace: Pace, clock: Clock, seconds: list[float]) -> list[float | None]:
    """Run steps of the given durations; the phase's time left after each."""
    left = []
    for duration in seconds:
        clock.now += duration
        pace.step()
        left.append(pace.eta()[1])
    return left


def test_the_time_left_is_known_after_a_few_steps():
    clock = Clock()
    pace = Pace(total=1000, clock=clock)
    pace.start_phase(steps_left=100, last=False)
    left = _steps(pace, clock, [5.0] + [1.0] * 9)  # the first step pays for start-up
    assert left[:FIRST_ESTIMATE_STEPS] == [None] * FIRST_ESTIMATE_STEPS
    assert left[FIRST_ESTIMATE_STEPS] == pytest.approx(96.0)  # 96 steps left at 1 s, start-up ignored
    assert pace.eta()[0] is None  # a later phase's pace is unknown: no total yet


def test_the_estimate_does_not_swing_with_noisy_steps_and_counts_epoch_ends():
    clock = Clock()
    pace = Pace(total=500, clock=clock)
    pace.start_phase(steps_left=500, last=True)
    per_step = []
    for _epoch in range(4):
        _steps(pace, clock, [0.5, 1.5] * 50)  # noisy steps, 1 s on average
        clock.now += 50.0  # the epoch's maps, metrics and checkpoints: 0.5 s per step more
        pace.epoch_done()
        per_step.append(pace.seconds_per_step())
    assert per_step[-1] == pytest.approx(1.5, rel=0.02)
    assert max(per_step) / min(per_step) < 1.1  # no swing from one epoch to the next
    finish = []  # when the phase is expected to end, as seen after each step
    for duration in [0.5, 1.5] * 10:
        (left,) = _steps(pace, clock, [duration])
        assert left is not None
        finish.append(clock.now + left)
    assert max(finish) - min(finish) < 0.15 * (finish[0] - clock.now)  # the end does not jump about
    whole, phase = pace.eta()
    assert whole == phase  # the last phase: the job's time left is the phase's


def test_a_new_phase_starts_its_own_estimate():
    clock = Clock()
    pace = Pace(total=200, clock=clock)
    pace.start_phase(steps_left=100, last=False)
    _steps(pace, clock, [1.0] * 100)
    pace.epoch_done()
    pace.start_phase(steps_left=100, last=True)
    assert pace.eta() == (None, None)
    _steps(pace, clock, [3.0] * 5)
    assert pace.eta()[1] == pytest.approx(95 * 3.0)
