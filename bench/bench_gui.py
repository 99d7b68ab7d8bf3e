"""Responsiveness of the desktop app (issue 5), offscreen.

1. cold start: process launch -> main window shown (target <= 3 s);
2. lateness of a 10 ms timer in the GUI thread while the demo trains and streams (p99 <= 10 ms);
3. click on a probe image -> inspector shows it, painted (target <= 100 ms);
4. explain a newly opened image with the demo models -> shown in the inspector (target <= 1 s).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui.py [--full]

By default the quick demo (a couple of steps per role) is trained; ``--full`` trains the real
``kd-gain`` preset (the teacher's 20 epochs, then base and student) and cancels it once
``--kd-epochs`` KD epochs have been drawn (default 3: several heatmap frames, streaming curves).
``--compare FOLDER`` overlays those runs in the Compare tab first (issue 21: "with runs overlaid").

Every tick later than 16 ms is a stall; the helper thread samples where the GUI thread was
during each, and the worst are listed with their most frequent stack (``--stalls N``). The
timer starts once the window has been shown and painted: the figures are about training and
streaming, not the window's first paint.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

COLD_START = """
import time, sys
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QSettings
app = QApplication([])
from gui.main_window import MainWindow
w = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat))
w.show()
app.processEvents()  # one call: the window is laid out and exposed
print("shown", flush=True)
"""


def cold_start(repeats: int = 3) -> list[float]:
    times = []
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", COLD_START, f"{tmp}/s.ini"],
                cwd=root,
                stdout=subprocess.PIPE,
                text=True,
            )
            line = proc.stdout.readline()
            times.append(time.perf_counter() - started)
            proc.wait()
            assert line.strip() == "shown", line
    return times


def wait_until(app: QApplication, predicate, timeout_s: float) -> bool:
    """Run the event loop until ``predicate()`` holds. One ``QEventLoop.exec`` rather than a
    ``processEvents`` loop: PySide6 6.12's processEvents drops a reference to None per call, and
    thousands of calls crash the interpreter at exit."""
    loop = QEventLoop()
    poll = QTimer(interval=5)
    poll.timeout.connect(lambda: loop.quit() if predicate() else None)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    poll.start()
    if not predicate():
        loop.exec()
    poll.stop()
    return bool(predicate())


class Lateness:
    """A 10 ms precise timer; records how late each tick fires. With ``watch`` a helper thread
    samples the GUI thread's Python stack while a tick is overdue by more than ``stall_ms``, so
    every stall comes with where the GUI thread was (the innermost frames of our code and Qt's)."""

    def __init__(self, interval_ms: int = 10, stall_ms: float = 16.0, watch: bool = True) -> None:
        self.interval = interval_ms
        self.stall_ms = stall_ms
        self.late: list[float] = []
        self.stalls: list[tuple[float, float, collections.Counter]] = []  # (t, late ms, stacks)
        self.clock = QElapsedTimer()
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=interval_ms)
        self.timer.timeout.connect(self._tick)
        self._last = time.perf_counter()
        self._samples: collections.Counter = collections.Counter()
        self._gui_thread = threading.get_ident()
        self._watching = watch
        self._started = time.perf_counter()

    def start(self) -> None:
        self.clock.start()
        self.timer.start()
        self._last = self._started = time.perf_counter()
        if self._watching:
            threading.Thread(target=self._watch, daemon=True).start()

    def _tick(self) -> None:
        elapsed = self.clock.nsecsElapsed() / 1e6
        self.clock.restart()
        now = time.perf_counter()
        late = max(elapsed - self.interval, 0.0)
        self.late.append(late)
        if late > self.stall_ms and len(self.late) > 1:
            self.stalls.append((now - self._started, late, self._samples))
        self._samples = collections.Counter()
        self._last = now

    def _watch(self) -> None:
        """Runs on a helper thread: a stack sample every 2 ms while the timer is overdue."""
        while self.timer is not None and self._watching:
            time.sleep(0.002)
            overdue = (time.perf_counter() - self._last) * 1000 - self.interval
            if overdue > self.stall_ms / 2:
                frame = sys._current_frames().get(self._gui_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-6:]
                    where = " < ".join(
                        f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack)
                    )
                    self._samples[where] += 1

    def stop(self) -> np.ndarray:
        self._watching = False
        self.timer.stop()
        return np.asarray(self.late[1:])

    def report(self, limit: int = 25) -> str:
        """The stalls over ``stall_ms``, worst first, each with its most sampled GUI-thread stack."""
        lines = [f"{len(self.stalls)} stalls over {self.stall_ms:.0f} ms"]
        for t, late, samples in sorted(self.stalls, key=lambda s: -s[1])[:limit]:
            top = samples.most_common(2)
            where = " | ".join(f"{n}x {w}" for w, n in top) or "(no sample)"
            lines.append(f"  t={t:7.2f}s late {late:6.1f} ms: {where}")
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="train the full kd-gain demo instead of the quick one"
    )
    parser.add_argument("--seconds", type=float, default=900, help="longest time to wait for the demo")
    parser.add_argument("--kd-epochs", type=int, default=3, help="with --full: KD epochs to draw")
    parser.add_argument("--stalls", type=int, default=15, help="how many of the worst stalls to list")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start figure")
    parser.add_argument("--no-explain", action="store_true", help="skip the click and explain figures")
    parser.add_argument(
        "--compare", metavar="FOLDER", help="overlay these runs (a run, a study or a folder of runs) first"
    )
    args = parser.parse_args()

    if not args.no_cold_start:
        starts = cold_start()
        print(f"cold start to a shown window: {', '.join(f'{t:.2f}' for t in starts)} s (target <= 3 s)")

    app = QApplication.instance() or QApplication([])
    from engine.events import CheckpointWritten
    from gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat))
        window.resize(1500, 950)
        window.show()
        checkpoints: list[str] = []
        frames: list[float] = []
        window.bridge.event.connect(
            lambda event: isinstance(event, CheckpointWritten) and checkpoints.append(event.role)
        )
        window.bridge.frame_ready.connect(lambda _frame: frames.append(time.monotonic()))
        if args.compare:  # the Compare tab holds their curves while the demo trains
            window.model.request_compare([args.compare])
            print(f"overlaid: {window.panels['compare'].runs.count()} runs from {args.compare}")
            window.panels.reveal("training")
        wait_until(app, lambda: False, 1.0)  # shown and painted before the clock starts
        lateness = Lateness()
        lateness.start()
        started = time.monotonic()
        window.start_demo("kd-gain", out_dir=f"{tmp}/run", quick=not args.full)
        if args.full:
            kd_frames = lambda: [e for e in window.model.history.frames if e >= 1]  # noqa: E731
            wait_until(app, lambda: len(kd_frames()) >= args.kd_epochs, args.seconds)
            window.bridge.cancel()
        done = wait_until(app, lambda: not window.bridge.busy, args.seconds)
        late = lateness.stop()
        if not done or window.panels["grid"].frame is None:
            error = window.model.last_error
            print(f"the demo did not produce a heatmap frame within {args.seconds:.0f} s: {error}")
            return 1
        print(lateness.report(args.stalls))
        over_50 = int((late > 50).sum())
        print(
            f"10 ms timer during demo training ({time.monotonic() - started:.0f} s, {len(late)} ticks, "
            f"{len(frames)} frames drawn, {checkpoints.count('student')} KD epochs): lateness "
            f"p50 {np.percentile(late, 50):.2f} ms, p99 {np.percentile(late, 99):.2f} ms, "
            f"max {late.max():.1f} ms; {int((late > 16).sum())} ticks over 16 ms, {over_50} over 50 ms "
            "(target p99 <= 10 ms, none over 50 ms)"
        )
        if args.no_explain:
            window.shutdown_jobs()
            window.close()
            return 0

        # click-to-inspect
        grid = window.panels["grid"]
        clicks = []
        for index in range(grid.frame.images.shape[0]):
            scene = grid.cell_center(row=4, index=index)
            point = grid.view_widget.mapFromScene(QPointF(scene.x(), scene.y()))
            t0 = time.perf_counter()
            QTest.mouseClick(grid.view_widget.viewport(), Qt.MouseButton.LeftButton, pos=point)
            window.panels["inspector"].plots.viewport().repaint()
            clicks.append((time.perf_counter() - t0) * 1000)
            assert window.panels["inspector"].index == index
        clicks = np.asarray(clicks)
        print(
            f"click probe image -> inspector painted: p50 {np.median(clicks):.1f} ms, "
            f"max {clicks.max():.1f} ms over {len(clicks)} clicks (target <= 100 ms)"
        )

        # explain a newly opened image with the demo models
        from PIL import Image

        explained = []
        for number in range(3):
            path = Path(tmp) / f"opened_{number}.png"
            Image.fromarray(grid.frame.images[number]).save(path)
            t0 = time.perf_counter()
            window.explain_image(path)
            shown = wait_until(app, lambda p=path: p.name in window.panels["inspector"].title.text(), 60)
            explained.append(time.perf_counter() - t0)
            wait_until(app, lambda: not window.explain_bridge.busy, 60)
            if not shown:
                print(f"explaining {path.name} failed: {window.model.last_error}")
                return 1
        print(
            f"explain an opened image (demo models): {', '.join(f'{t:.2f}' for t in explained)} s "
            "(first includes loading; target <= 1 s)"
        )
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
