"""`kdlens`: the desktop application's entry point.

``kdlens --demo`` opens the window and starts the built-in demo; ``kdlens RUN_DIR`` replays a
run folder; ``kdlens --self-test`` opens the window (offscreen without a display), runs a quick
demo job through the real bridge, checks a heatmap frame was drawn and exits 0 (1 on failure).
"""

from __future__ import annotations

import argparse
import ctypes.util
import multiprocessing
import os
import sys
from pathlib import Path

NO_DISPLAY = (
    "kdlens: no display found (DISPLAY / WAYLAND_DISPLAY are not set); run it in a desktop session, "
    "use `kdlens-cli` for headless work, or `kdlens --self-test` to check the install offscreen."
)
XCB_PACKAGES = {"xcb-icccm": "libxcb-icccm4", "xcb-keysyms": "libxcb-keysyms1"}


def display_problem(
    self_test: bool, environ: dict[str, str] | None = None, platform: str = sys.platform
) -> str | None:
    """One line saying why no window can open here, or None when one can."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux") or self_test or env.get("QT_QPA_PLATFORM"):
        return None
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return NO_DISPLAY
    if env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        missing = [pkg for lib, pkg in XCB_PACKAGES.items() if ctypes.util.find_library(lib) is None]
        if missing:
            return (
                f"kdlens: Qt's X11 window needs {', '.join(missing)}; install it with "
                f"`sudo apt-get install -y {' '.join(missing)}` (or run build_scripts/ensure_qt_libs.sh)."
            )
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdlens", description="KD Lens: see what a distilled student learned."
    )
    parser.add_argument("run_dir", nargs="?", help="a run folder to open and replay")
    parser.add_argument("--demo", action="store_true", help="start the built-in demo right away")
    parser.add_argument("--preset", default="kd-gain", choices=("kd-gain", "cue-failure"), help="demo preset")
    parser.add_argument("--out", help="folder for the demo run (default: a new folder under the runs folder)")
    parser.add_argument(
        "--quick", action="store_true", help="a few steps per role (for checks and screenshots)"
    )
    parser.add_argument(
        "--self-test", action="store_true", help="open the window, run a quick demo job, exit"
    )
    parser.add_argument("--size", type=_size, help="window size as WIDTHxHEIGHT, e.g. 1280x720")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = build_parser().parse_args(argv)
    problem = display_problem(args.self_test)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if args.self_test and sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.run_dir and not Path(args.run_dir).is_dir():
        print(f"kdlens: {args.run_dir} is not a folder; pass a KD Lens run folder", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "kdlens"])
    app.setApplicationName("KD Lens")
    app.setOrganizationName("KD Lens")
    if args.self_test:
        from gui.self_test import run_self_test

        return run_self_test(app)
    window = MainWindow()
    app.aboutToQuit.connect(window.shutdown_jobs)
    if args.size:
        window.resize(*args.size)
    window.show()
    if args.run_dir:
        window.open_run(args.run_dir)
    elif args.demo:
        window.start_demo(args.preset, out_dir=args.out, quick=args.quick)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
