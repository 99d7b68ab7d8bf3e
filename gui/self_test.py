"""`kdlens --self-test`: the packaged app checks itself (STYLE.md, glue-standalone-apps' ``--test``).

Opens the real main window, runs a quick demo job through the real bridge, waits for the first
heatmap frame to be drawn, checks the grid holds finite float32 maps, lets the job end and exits
0; any failure prints the reason and exits 1.
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

TIMEOUT_S = 300


def run_self_test(app: QApplication, timeout_s: float = TIMEOUT_S) -> int:
    from gui.main_window import MainWindow

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kdlens-self-test-") as tmp:
        settings = QSettings(f"{tmp}/settings.ini", QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.show()
        outcome: dict[str, str] = {}

        def on_frame(frame) -> None:
            if "frame" in outcome or frame.flags.get("phase") == "teacher":
                return  # a teacher-phase preview has no distilled map yet: wait for a KD epoch
            grid = window.panels["grid"]
            if grid.frame is None:
                outcome["error"] = "a heatmap frame arrived but the grid did not draw it"
                return
            image = grid.cell_image("distilled", 0)
            if image is None or image.dtype != np.float32 or not np.isfinite(image).all():
                outcome["error"] = "the distilled map in the grid is missing or not finite float32"
                return
            outcome["frame"] = f"epoch {frame.epoch}, {frame.images.shape[0]} probe images"

        def on_failed(message: str, details: str) -> None:
            outcome.setdefault("error", message + (f"\n{details}" if details else ""))

        def on_timeout() -> None:
            outcome.setdefault("error", f"no heatmap frame within {timeout_s:.0f} s")
            window.bridge.cancel()

        window.bridge.frame_ready.connect(on_frame)
        window.bridge.failed.connect(on_failed)
        window.bridge.job_done.connect(lambda _result: app.quit())
        QTimer.singleShot(int(timeout_s * 1000), on_timeout)
        window.start_demo("kd-gain", out_dir=f"{tmp}/run", quick=True)
        app.exec()
        window.shutdown_jobs()
        window.close()
        if "error" in outcome or "frame" not in outcome:
            print(
                f"kdlens self-test FAILED: {outcome.get('error', 'the job ended without a heatmap frame')}",
                file=sys.stderr,
            )
            return 1
        print(f"kdlens self-test passed in {time.monotonic() - started:.1f} s: {outcome['frame']}")
        return 0
