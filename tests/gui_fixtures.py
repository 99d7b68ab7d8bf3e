"""Shared helpers of the GUI tests: synthetic events, fake jobs, and the strictness fixture that
fails a test which leaves a worker thread running or makes Qt print a warning (it records every
``QThread`` the test starts: :func:`running_threads`).

Import the fixtures into a test module with ``from gui_fixtures import ...``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QThread, QtMsgType

from engine.events import EpochSummary, JobFinished, LogLine, MetricsRow, ProbeFrame, Progress, StopToken
from engine.vocab import MAP_KEYS

CLASS_NAMES = ("circle", "square", "triangle", "star")
ROLES = ("teacher", "base", "student")
METRICS = ("FSS(S,T)", "FSS(B,T)", "FSS(S,B)", "RS(T)", "RS(S)", "RS(B)", "RS(S|B)", "RS(B|S)")
LAYERS = ("stage3", "stage4")
# Messages of Qt's offscreen platform plugin that say nothing about our code.
HARMLESS_QT = ("propagateSizeHints", "This plugin does not support")


def make_frame(epoch: int, n: int = 4, size: int = 16, seed: int = 0) -> ProbeFrame:
    """A frame whose every map is different and recognisable (seeded by epoch and name)."""
    rng = np.random.default_rng(seed + 1000 * epoch)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    maps, raw, signed = {}, {}, {}
    for offset, key in enumerate(MAP_KEYS):
        base = rng.random((n, size, size)).astype(np.float32)
        maps[key] = base
        raw[key] = base * (offset + 1) * 0.5
        signed[key] = (rng.random((n, size // 4, size // 4)).astype(np.float32) - 0.5) * (offset + 1)
    probs = rng.random((n, len(CLASS_NAMES))).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    return ProbeFrame(
        epoch=epoch,
        images=images,
        labels=np.arange(n) % len(CLASS_NAMES),
        class_names=CLASS_NAMES,
        maps=maps,
        signed=signed,
        raw=raw,
        predictions={role: np.roll(probs, i, axis=1) for i, role in enumerate(ROLES)},
        indices=np.arange(n) * 3,
        flags={"context_batch": [1, 2, 3, 4]},
    )


def metric_value(metric: str, layer: str, epoch: int) -> float:
    return round(0.1 * (METRICS.index(metric) + 1) + 0.01 * epoch + 0.001 * LAYERS.index(layer), 6)


def make_rows(epoch: int) -> list[MetricsRow]:
    rows = []
    for layer in LAYERS:
        for metric in METRICS:
            mean = metric_value(metric, layer, epoch)
            rows.append(MetricsRow(epoch, layer, metric, mean, mean - 0.05, mean + 0.05, samples=10))
    return rows


def fake_training(
    epochs: int = 3, steps: int = 4, delay: float = 0.0, n: int = 4, raise_at: int | None = None
):
    """A job factory that streams like a training run: progress, summaries, frames, metrics."""

    def job(stop: StopToken):
        total = epochs * steps * len(ROLES)
        done = 0
        yield LogLine("fake run starting")
        for epoch in range(1, epochs + 1):
            for role in ROLES:
                for step in range(1, steps + 1):
                    stop.check()
                    if delay:
                        time.sleep(delay)
                    done += 1
                    if raise_at is not None and done == raise_at:
                        from engine.errors import KDLensError

                        raise KDLensError("the fake dataset folder has no test/ split; add one")
                    yield Progress(
                        role, epoch, step, steps, done, total, loss=1.0 / done, eta_seconds=total - done
                    )
                yield EpochSummary(role, epoch, 1.0 / epoch, 0.5 + 0.1 * epoch, 0.4 + 0.1 * epoch)
            yield make_frame(epoch, n=n)
            yield from make_rows(epoch)
        yield JobFinished(summary={"epochs": epochs}, stopped=False, out_dir=None)

    return job


def write_run_dir(path: Path, epochs: int = 3, n: int = 4, finished: bool = True) -> Path:
    """A run folder in the engine's layout (engine.runs), written from synthetic events."""
    from engine.frames import encode_probe_frame
    from engine.runs.folder import history_line, metrics_line

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}\n")
    (path / "state.json").write_text(
        json.dumps({"finished": finished, "completed": {}, "summary": {"epochs": epochs}})
    )
    history, metrics = [], []
    (path / "probe").mkdir(exist_ok=True)
    for epoch in range(1, epochs + 1):
        for role in ROLES:
            history.append(
                history_line(EpochSummary(role, epoch, 1.0 / epoch, 0.5 + 0.1 * epoch, 0.4 + 0.1 * epoch))
            )
        metrics += [metrics_line(row) for row in make_rows(epoch)]
        (path / "probe" / f"epoch_{epoch:04d}.npz").write_bytes(encode_probe_frame(make_frame(epoch, n=n)))
    (path / "history.jsonl").write_text("\n".join(history) + "\n")
    (path / "metrics.jsonl").write_text("\n".join(metrics) + "\n")
    return path


_STARTED: list[QThread] = []  # every QThread the running test started


def running_threads() -> list[QThread]:
    """The threads the running test started that are still running (strict_qt records them)."""
    return [thread for thread in _STARTED if thread.isRunning()]


@pytest.fixture(autouse=True)
def strict_qt(qtlog, monkeypatch):
    """Fail the test if it leaves a worker thread running or Qt printed a warning (napari's
    ``_dangling_qthreads`` idea: ``QThread.start`` is wrapped to record each thread)."""
    start = QThread.start

    def recorded_start(thread: QThread, *args) -> None:
        _STARTED.append(thread)
        start(thread, *args)

    _STARTED.clear()
    monkeypatch.setattr(QThread, "start", recorded_start)
    yield
    left = running_threads()
    for thread in left:  # do not let one test's thread poison the next
        thread.quit()
        thread.wait(10_000)
    _STARTED.clear()
    assert not left, f"{len(left)} worker thread(s) left running"
    noisy = [
        r.message
        for r in qtlog.records
        if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
        and not any(h in r.message for h in HARMLESS_QT)
    ]
    assert not noisy, f"Qt warnings: {noisy}"


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def without_engine_choices(monkeypatch) -> None:
    """The window's choice lists keep their built-in defaults: no child process is started to
    read the engine's registries (seconds of torch import per window)."""
    from gui.jobs.choices import ChoicesLoader

    monkeypatch.setattr(ChoicesLoader, "start", lambda _loader: None)


@pytest.fixture
def window(qtbot, settings, monkeypatch):
    from gui.main_window import MainWindow

    without_engine_choices(monkeypatch)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown_jobs()


def counting_job(steps: int, stop: StopToken, fail_at: int | None = None):
    """A module-level job (importable by a child process) that counts steps, checking ``stop``."""
    for step in range(1, steps + 1):
        stop.check()
        time.sleep(0.01)
        if step == fail_at:
            from engine.errors import KDLensError

            raise KDLensError(f"step {step} failed on purpose; nothing to do")
        yield Progress("student", 1, step, steps, step, steps)
    yield JobFinished(summary={"steps": steps})
