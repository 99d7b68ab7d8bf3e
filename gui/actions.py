"""The main window's actions (menus, toolbar, keyboard shortcuts) in one table."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget


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
    ActionSpec("shortcuts", "Keyboard &shortcuts", "F1", "List the keyboard shortcuts (F1)"),
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
    lines = []
    for spec in ACTIONS:
        if spec.shortcut is None:
            continue
        key = QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        lines.append(f"{key}\t{spec.text.replace('&', '')}")
    return "\n".join(lines)
