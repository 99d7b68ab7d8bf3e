"""What the window says about a job, in words (Qt-free): what a job does (``TRAIN``, ``REPLAY``,
``EXPLAIN``), the status line for a step, a pause, an explained image and a job's end, the time
left, and the text the heatmap grid shows while it has nothing to draw.

Every text says what is known and nothing more: a time left is shown only once the engine has
measured the pace of the phase it is in ("estimating…" before), and a role's epoch count comes
from the run's own configuration when it is on disk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.events import EpochSummary, JobFinished, Progress

__all__ = [
    "ESTIMATING",
    "EXPLAIN",
    "IDLE_TEXT",
    "REPLAY",
    "TRAIN",
    "duration",
    "eta_text",
    "explained_text",
    "finished_text",
    "label_name",
    "paused_text",
    "progress_text",
    "role_epochs",
    "run_name",
    "summary_text",
    "waiting_text",
]

TRAIN, REPLAY, EXPLAIN = "train", "replay", "explain"  # what a job does

ESTIMATING = "estimating…"
IDLE_TEXT = (
    "Heatmaps appear here when a run has them.\n"
    "Press  Start  (Ctrl+R) to train the demo, or open a run folder (Ctrl+O)."
)
UNKNOWN_LABEL = "unknown"


def duration(seconds: float) -> str:
    """'1h 05m', '6m 09s' or '42s'."""
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _known(seconds: float | None) -> bool:
    return seconds is not None and math.isfinite(seconds) and seconds >= 0


def eta_text(event: Progress) -> str:
    """The time left as the engine measured it: the whole job's when known, else the current
    phase's with the total still being estimated, else 'estimating…'."""
    if _known(event.eta_seconds):
        return f"ETA {duration(event.eta_seconds)}"
    phase = event.phase_eta_seconds
    if _known(phase):
        return f"{event.role}: {duration(phase)} left · total ETA {ESTIMATING}"
    return f"ETA {ESTIMATING}"


def role_epochs(config: Mapping[str, Any] | None, role: str) -> int | None:
    """The epochs a role trains for in a run's ``config.json`` (None when unknown)."""
    if not config:
        return None
    entry = config.get(role)
    if isinstance(entry, Mapping) and isinstance(entry.get("epochs"), int) and entry.get("load") is None:
        return int(entry["epochs"])
    return None


def progress_text(event: Progress, config: Mapping[str, Any] | None = None) -> str:
    """'Training teacher — epoch 3/20, step 40/94 — loss 0.512'; 'Analysis: FSS / RS (3/6)'."""
    if event.role == "analysis":
        return f"Analysis: {event.stage} ({event.done}/{event.total})"
    if event.stage == "train":
        what = f"Training {event.role}"
    elif event.stage == event.role:
        what = event.stage.capitalize()
    else:
        what = f"{event.stage.capitalize()} {event.role}"
    epochs = role_epochs(config, event.role)
    epoch = f"epoch {event.epoch}/{epochs}" if epochs else f"epoch {event.epoch}"
    text = f"{what} — {epoch}, step {event.step}/{event.steps_per_epoch}"
    if event.loss is not None and math.isfinite(event.loss):
        text += f" — loss {event.loss:.3f}"
    return text


def label_name(label: int, class_names: tuple[str, ...] | list[str]) -> str:
    """A frame's label as a class name; -1 (and anything out of range) means 'unknown'."""
    return class_names[label] if 0 <= label < len(class_names) else UNKNOWN_LABEL


def run_name(run_dir: str | None) -> str:
    """The run folder's name, or 'the run' when there is none."""
    return Path(run_dir).name if run_dir else "the run"


def summary_text(event: EpochSummary) -> str:
    """'student epoch 3: loss 0.512, held-out accuracy 81.0%' (the log line of an epoch)."""
    held = "n/a" if event.heldout_accuracy is None else f"{event.heldout_accuracy:.1%}"
    return f"{event.role} epoch {event.epoch}: loss {event.train_loss:.3f}, held-out accuracy {held}"


def paused_text(doing: str | None) -> str:
    """The status line of a paused job (``doing``: its last step's line)."""
    return f"Paused{f' ({doing})' if doing else ''} — press Resume (Ctrl+P) to continue."


def explained_text(name: str, ok: bool, epoch: int | None, error: str | None) -> str:
    """The status line after explaining the image file ``name``."""
    if not ok:
        return f"Could not explain {name}: {error or 'see the log'}"
    at = f" with the models of epoch {epoch}" if epoch is not None else ""
    return f"Explained {name}{at}."


def finished_text(
    kind: str | None, result: JobFinished | None, run_dir: str | None, epochs: list[int], error: str | None
) -> str:
    """The status line when the main job ended (``result`` None: it failed with ``error``)."""
    if result is None:
        first = (error or "see the log").splitlines()[0]
        return f"Could not open {run_name(run_dir)}: {first}" if kind == REPLAY else f"Failed: {first}"
    if kind == REPLAY and "probe_images" in result.summary:  # an analysis report
        images = result.summary["probe_images"]
        return f"Opened the analysis report {run_name(run_dir)} ({images} probe images)."
    if kind == REPLAY:
        span = f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''} of maps and metrics"
        if result.stopped:
            last = f" after epoch {epochs[-1]}" if epochs else ""
            return (
                f"Opened {run_name(run_dir)} ({span}); it was interrupted{last}: "
                "Continue (Ctrl+Shift+R) resumes it."
            )
        return f"Opened {run_name(run_dir)} ({span})."
    if result.stopped:
        return "Stopped — checkpoints up to the last complete epoch are kept."
    return "Finished."


def waiting_text(
    job: str | None, training_role: str | None, config: Mapping[str, Any] | None, run_dir: str | None
) -> str:
    """What the heatmap grid says while it has no frame to draw."""
    if job == TRAIN:
        if training_role is None:
            return "Preparing the data and the models…"
        epochs = role_epochs(config, training_role)
        doing = f"Training the {training_role}" + (f" ({epochs} epochs)" if epochs else "") + "…"
        return f"{doing}\nHeatmaps appear when the base and the student finish their first epoch."
    if job == REPLAY:
        return "Opening the run…"
    if run_dir is not None:
        return "This run has no heatmaps yet."
    return IDLE_TEXT
