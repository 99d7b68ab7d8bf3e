"""The bridge with fake jobs: it streams, coalesces frames, throttles progress, pauses, cancels,
reports errors and quits without leaving a thread."""

from __future__ import annotations

import time

import gui_fixtures as fx
from gui_fixtures import fake_training, make_frame, running_threads

from engine.events import EpochSummary, JobFinished, LogLine, MetricsRow, Progress
from gui.jobs.bridge import JobBridge

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt


def _collect(bridge: JobBridge) -> dict[str, list]:
    seen: dict[str, list] = {
        name: [] for name in ("progress", "summary", "rows", "recorded", "ready", "failed", "log")
    }
    kinds = {Progress: "progress", EpochSummary: "summary", MetricsRow: "rows", LogLine: "log"}

    def by_kind(event) -> None:
        if type(event) in kinds:
            seen[kinds[type(event)]].append(event)

    bridge.event.connect(by_kind)
    bridge.frame_recorded.connect(lambda frame: seen["recorded"].append(frame.epoch))
    bridge.frame_ready.connect(lambda frame: seen["ready"].append(frame.epoch))
    bridge.failed.connect(lambda message, details: seen["failed"].append(message))
    return seen


def test_bridge_streams_a_whole_job_and_coalesces_frames(qtbot):
    bridge = JobBridge()
    seen = _collect(bridge)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000) as done:
        assert bridge.start(fake_training(epochs=3, steps=4))
        assert not bridge.start(fake_training())  # one job at a time
    result = done.args[0]
    assert isinstance(result, JobFinished) and not result.stopped
    assert not bridge.busy and running_threads() == []
    assert seen["recorded"] == [1, 2, 3]  # every frame recorded for the history
    assert seen["ready"][-1] == 3  # the latest is always drawn
    assert len(seen["ready"]) <= 3  # frames that arrive together are drawn once
    assert len(seen["summary"]) == 9 and len(seen["rows"]) == 3 * 16
    assert seen["progress"][-1].done == seen["progress"][-1].total  # the final progress always arrives
    assert len({p.done for p in seen["progress"]}) == len(seen["progress"])  # only when it moved
    assert seen["log"][0].message == "fake run starting" and seen["failed"] == []


def test_bridge_throttles_fast_progress(qtbot):
    def spam(stop):
        for i in range(1, 5001):
            yield Progress("student", 1, i, 5000, i, 5000)

    bridge = JobBridge()
    seen = _collect(bridge)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000):
        bridge.start(spam)
    assert 1 <= len(seen["progress"]) < 200
    assert seen["progress"][-1].done == 5000


def test_bridge_cancel_stops_after_the_current_step(qtbot):
    bridge = JobBridge()
    seen = _collect(bridge)
    bridge.start(fake_training(epochs=50, steps=4, delay=0.01))
    qtbot.waitUntil(lambda: len(seen["summary"]) >= 2, timeout=10_000)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000) as done:
        bridge.cancel()
    assert done.args[0].stopped
    assert len(seen["summary"]) < 50 * 3
    assert running_threads() == []


def test_bridge_pause_holds_the_job_and_resume_continues(qtbot):
    bridge = JobBridge()
    seen = _collect(bridge)
    bridge.start(fake_training(epochs=20, steps=4, delay=0.005))
    qtbot.waitUntil(lambda: len(seen["progress"]) >= 1, timeout=10_000)
    with qtbot.waitSignal(bridge.paused_changed):
        bridge.pause()
    assert bridge.paused
    qtbot.wait(150)  # let steps in flight land
    count = len(seen["summary"])
    qtbot.wait(300)
    assert len(seen["summary"]) == count  # nothing moves while paused
    bridge.resume()
    qtbot.waitUntil(lambda: len(seen["summary"]) > count, timeout=10_000)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000):
        bridge.cancel()


def test_bridge_cancel_wakes_a_paused_job(qtbot):
    bridge = JobBridge()
    bridge.start(fake_training(epochs=50, steps=4, delay=0.005))
    bridge.pause()
    with qtbot.waitSignal(bridge.job_done, timeout=10_000) as done:
        bridge.cancel()
    assert done.args[0].stopped


def test_bridge_reports_engine_errors_and_stays_usable(qtbot):
    bridge = JobBridge()
    seen = _collect(bridge)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000) as done:
        bridge.start(fake_training(epochs=2, steps=4, raise_at=5))
    assert done.args[0] is None
    assert seen["failed"] == ["the fake dataset folder has no test/ split; add one"]

    def buggy(stop):
        yield make_frame(1)
        raise ZeroDivisionError("oops")

    with qtbot.waitSignal(bridge.failed, timeout=10_000) as failure:
        bridge.start(buggy)
    assert (
        failure.args[0].startswith("Unexpected error: ZeroDivisionError") and "Traceback" in failure.args[1]
    )
    qtbot.waitUntil(lambda: not bridge.busy, timeout=10_000)
    with qtbot.waitSignal(bridge.job_done, timeout=10_000):
        bridge.start(fake_training(epochs=1, steps=1))


def test_bridge_shutdown_waits_for_the_thread(qtbot):
    steps = []

    def endless(stop):
        while True:
            stop.check()
            time.sleep(0.01)
            steps.append(1)
            yield Progress("student", 1, len(steps), 10**6, len(steps), 10**6)

    bridge = JobBridge()
    bridge.start(endless)
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=10_000)
    started = time.monotonic()
    assert bridge.shutdown()
    assert time.monotonic() - started < 2.0
    assert not bridge.busy and running_threads() == []


def test_a_job_in_a_child_process_streams_pauses_and_cancels(qtbot):
    from gui.jobs.child import in_process

    bridge = JobBridge()
    seen = _collect(bridge)
    bridge.start(in_process("gui_fixtures:counting_job", 10**6))
    qtbot.waitUntil(lambda: len(seen["progress"]) >= 2, timeout=60_000)
    bridge.pause()
    qtbot.wait(400)  # the pause reaches the child within a poll interval
    count = seen["progress"][-1].done
    qtbot.wait(400)
    assert seen["progress"][-1].done - count <= 1  # at most one step in flight
    bridge.resume()
    qtbot.waitUntil(lambda: seen["progress"][-1].done > count + 1, timeout=10_000)
    with qtbot.waitSignal(bridge.job_done, timeout=30_000) as done:
        bridge.cancel()
    assert done.args[0].stopped and running_threads() == []


def test_an_engine_error_in_a_child_process_is_reported(qtbot):
    from gui.jobs.child import in_process

    bridge = JobBridge()
    seen = _collect(bridge)
    with qtbot.waitSignal(bridge.job_done, timeout=60_000) as done:
        bridge.start(in_process("gui_fixtures:counting_job", 50, fail_at=3))
    assert done.args[0] is None
    assert seen["failed"] == ["step 3 failed on purpose; nothing to do"]
