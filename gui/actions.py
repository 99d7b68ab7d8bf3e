"""The main window's actions (menus, toolbar, keyboard shortcuts) in one table, and what each
says and allows as the run model's job state changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from engine.events import JobFinished
from gui.model.run_model import RunModel
from gui.model.status import TRAIN


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    shortcut: str | QKeySequence.StandardKey | None
    tip: str
    icon: QStyle.StandardPixmap | None = None


ACTIONS = (
    ActionSpec(
        "start",
        "&Start",
        "Ctrl+R",
        "Train the chosen preset or setup (Ctrl+R)",
        QStyle.StandardPixmap.SP_MediaPlay,
    ),
    ActionSpec(
        "pause",
        "&Pause",
        "Ctrl+P",
        "Pause after the current step; press again to resume (Ctrl+P)",
        QStyle.StandardPixmap.SP_MediaPause,
    ),
    ActionSpec(
        "cancel",
        "&Cancel",
        "Ctrl+.",
        "Stop after the current step; checkpoints are kept (Ctrl+.)",
        QStyle.StandardPixmap.SP_MediaStop,
    ),
    ActionSpec(
        "continue_run",
        "C&ontinue interrupted run",
        "Ctrl+Shift+R",
        "Continue the open run from its last complete epoch (Ctrl+Shift+R)",
        QStyle.StandardPixmap.SP_MediaSeekForward,
    ),
    ActionSpec(
        "open_run",
        "&Open run folder…",
        "Ctrl+O",
        "Open a run folder and replay its history (Ctrl+O)",
        QStyle.StandardPixmap.SP_DirOpenIcon,
    ),
    ActionSpec(
        "compare_runs",
        "&Compare runs…",
        "Ctrl+Shift+O",
        "Overlay the curves of several runs: a run, a study's seeds or a folder of runs (Ctrl+Shift+O)",
    ),
    ActionSpec(
        "open_image",
        "Explain &image file…",
        "Ctrl+I",
        "Explain an image from disk with this run's models (Ctrl+I)",
        QStyle.StandardPixmap.SP_FileIcon,
    ),
    ActionSpec(
        "export",
        "&Export…",
        "Ctrl+E",
        "Export figure (PNG, SVG), maps (.npz), metrics (CSV, JSON) and a manifest (Ctrl+E)",
        QStyle.StandardPixmap.SP_DialogSaveButton,
    ),
    ActionSpec("quit", "&Quit", "Ctrl+Q", "Quit (a running job stops after its current step)"),
    ActionSpec(
        "prev_epoch",
        "Previous epoch",
        "Ctrl+Left",
        "Show the previous epoch (Ctrl+Left)",
        QStyle.StandardPixmap.SP_MediaSeekBackward,
    ),
    ActionSpec(
        "next_epoch",
        "Next epoch",
        "Ctrl+Right",
        "Show the next epoch (Ctrl+Right)",
        QStyle.StandardPixmap.SP_MediaSeekForward,
    ),
    ActionSpec(
        "reset_zoom",
        "&Fit heatmaps",
        "Ctrl+0",
        "Show the whole heatmap grid again (Ctrl+0, or double-click the grid)",
    ),
    ActionSpec("shortcuts", "Keyboard &shortcuts", "F1", "List the keyboard shortcuts (F1)"),
)

_SPECS = {spec.name: spec for spec in ACTIONS}

#: Keys handled by a panel rather than by an action: (keys, what they do), for the F1 sheet.
PANEL_KEYS = (
    ("Left / Right", "Previous / next probe image (heatmap grid focused: click it first)"),
    ("Double-click", "Fit the heatmap grid (on the grid)"),
)


def build_actions(owner: QWidget) -> dict[str, QAction]:
    """Create every action with its shortcut, tooltip and standard icon, owned by ``owner``."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, owner)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
        if spec.icon is not None:
            action.setIcon(owner.style().standardIcon(spec.icon))
        owner.addAction(action)
        actions[spec.name] = action
    return actions


def shortcuts_text() -> str:
    """Every shortcut that works: the actions' (window-wide, the epoch keys even in the epoch box)
    and the keys panels handle themselves."""
    lines = []
    for spec in ACTIONS:
        if spec.shortcut is None:
            continue
        key = QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        lines.append(f"{key}\t{spec.text.replace('&', '')}")
    lines += [f"{keys}\t{what}" for keys, what in PANEL_KEYS]
    return "\n".join(lines)


def show_paused(action: QAction, owner: QWidget, paused: bool) -> None:
    """The pause action says what pressing it does now: Resume (with a play icon) when paused."""
    action.setText("&Resume" if paused else "&Pause")
    tip = "Resume the job (Ctrl+P)" if paused else _SPECS["pause"].tip
    action.setToolTip(tip)
    action.setStatusTip(tip)
    icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
    action.setIcon(owner.style().standardIcon(icon))


def follow_job(actions: Mapping[str, QAction], model: RunModel, owner: QWidget) -> None:
    """Keep the actions true to the model's job state: start and open while idle, pause and
    cancel while a job runs, continue after an interrupted run, explain an image file when it is
    possible (else the tooltip says why not)."""

    def on_busy(busy: bool) -> None:
        for name in ("start", "open_run"):
            actions[name].setEnabled(not busy)
        for name in ("pause", "cancel"):
            actions[name].setEnabled(busy)
        actions["continue_run"].setEnabled(False)

    def on_explainable(reason: str | None) -> None:
        action = actions["open_image"]
        action.setEnabled(reason is None)
        tip = _SPECS["open_image"].tip
        if reason is None and model.job == TRAIN:
            tip += f" — with the last committed epoch ({model.committed_epoch}) while training runs"
        action.setToolTip(tip if reason is None else f"Explaining is not possible now: {reason}")

    def on_finished(result: JobFinished | None) -> None:
        if result is not None:
            actions["continue_run"].setEnabled(bool(result.stopped and result.out_dir))

    model.events.busy.connect(on_busy)
    model.events.paused.connect(lambda paused: show_paused(actions["pause"], owner, paused))
    model.events.explainable.connect(on_explainable)
    model.events.finished.connect(on_finished)
    on_explainable(model.explain_block_reason())
