"""What the user looks at in the open run, without Qt: the run's history, the shown epoch and
frame, the inspected image, the display options, the study on screen and what the run must say
about itself (its notices). :class:`~gui.model.run_model.RunModel` adds the job's state to it.
Every change is announced through :class:`~gui.model.run_events.RunEvents`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.events import ProbeFrame
from engine.frames import slice_frame
from gui.model.history import RunHistory, is_teacher_phase
from gui.model.options import DisplayOptions
from gui.model.run_events import RunEvents

__all__ = ["RunView"]


class RunView:
    """The open run's history and what is shown of it."""

    def __init__(self, options: DisplayOptions | None = None) -> None:
        self.events = RunEvents()
        self.history = RunHistory()
        self.options = options or DisplayOptions()
        self.epoch: int | None = None
        self.following = True
        self.inspected: int | None = None
        self.preview_frame: ProbeFrame | None = None
        self.study: str | None = None  # the study folder on screen
        self.notices: list[str] = []  # what the run says about itself (e.g. a weak teacher)
        self.class_filter: str | None = None  # show only this class's probe images (None: all)
        self._config: dict[str, Any] | None = None

    # -- the run ---------------------------------------------------------------------------
    @property
    def run_dir(self) -> str | None:
        return self.history.run_dir

    def start(self, run_dir: str | None) -> None:
        """Forget the previous run (and a study it is not a seed of); ``run_dir`` is where the new
        one lives."""
        if self.study is not None and (run_dir is None or Path(run_dir).parent != Path(self.study)):
            self.study = None
            self.events.study.emit(None, None)
        self.history.clear()
        self.history.run_dir = run_dir
        self.epoch, self.inspected, self.preview_frame, self._config = None, None, None, None
        self.class_filter = None
        self.events.cleared.emit()
        self.events.epochs.emit([])
        self.events.run.emit(run_dir)
        self.set_notices([])

    def run_config(self) -> dict[str, Any] | None:
        """The open run's ``config.json`` as plain data (None until it is on disk)."""
        if self._config is None and self.run_dir is not None:
            try:
                loaded = json.loads((Path(self.run_dir) / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            self._config = loaded if isinstance(loaded, dict) else None
        return self._config

    # -- what is shown ---------------------------------------------------------------------
    def show_frame(self, frame: ProbeFrame) -> None:
        """A newly streamed frame may be drawn (the bridge calls this at most ~30 times a second):
        offer its epoch and move to it when following the live run. A teacher-phase frame (only
        the teacher's Grad-CAM) is a preview until the first frame of the base and student."""
        if is_teacher_phase(frame):
            if not self.history.frames:
                self.preview_frame = frame
                self.events.preview.emit(frame)
            return
        self.events.epochs.emit(self.history.epochs())
        if self.following or self.epoch is None:
            self.select_epoch(frame.epoch)

    def select_epoch(self, epoch: int) -> None:
        """Show ``epoch`` (or the nearest epoch with data) in every panel."""
        epochs = self.history.epochs()
        if not epochs:
            return
        self.epoch = min(epochs, key=lambda e: abs(e - epoch))
        self.events.epoch.emit(self.epoch, self.frame())

    def set_following(self, following: bool) -> None:
        self.following = following

    def frame(self) -> ProbeFrame | None:
        """The frame of the shown epoch (or the latest one before it), only the images of the
        class filter's class when one is set."""
        return _only_class(
            None if self.epoch is None else self.history.frame_at(self.epoch), self.class_filter
        )

    def shown_frame(self) -> ProbeFrame | None:
        """What the heatmap grid draws (and an export writes): the shown epoch's frame, else the
        teacher-phase preview, else None."""
        frame = self.frame()
        return frame if frame is not None else _only_class(self.preview_frame, self.class_filter)

    def set_class_filter(self, name: str | None) -> None:
        """Show only the probe images of class ``name`` (None: every image) in every panel; the
        inspector closes, since its image's place in the grid changes."""
        if name == self.class_filter:
            return
        self.class_filter = name
        self.inspect(None)
        self.events.class_filter.emit(name)
        if self.epoch is not None:
            self.events.epoch.emit(self.epoch, self.frame())

    def inspect(self, index: int | None) -> None:
        """Open probe image ``index`` of the shown frame in the inspector."""
        self.inspected = index
        self.events.inspected.emit(index)

    def add_explained(self, image_path: str, frame: ProbeFrame) -> None:
        self.history.add_explained(image_path, frame)
        self.inspected = None
        self.events.explained.emit(Path(image_path).name, frame)

    def request_open(self, run_dir: str) -> None:
        """Ask whoever runs jobs to open ``run_dir`` (e.g. one seed's run of a study)."""
        self.events.open_requested.emit(run_dir)

    def show_study(self, folder: str, document: dict[str, Any]) -> None:
        """A study (several seeds) replaces the open run on screen; its seeds open below it."""
        self.start(None)
        self.study = folder
        self.events.study.emit(folder, document)

    def set_options(self, options: DisplayOptions) -> None:
        if options != self.options:
            self.options = options
            self.events.options.emit(options)

    def set_notices(self, notices: list[str]) -> None:
        """What the run says about itself beside its numbers (``engine.runs.notices``)."""
        if notices != self.notices:
            self.notices = list(notices)
            self.events.notices.emit(list(notices))

    def request_compare(self, run_dirs: list[str]) -> None:
        """Ask for ``run_dirs`` to be overlaid in the Compare panel (e.g. a study's seeds)."""
        self.events.compare_requested.emit(list(run_dirs))


def _only_class(frame: ProbeFrame | None, name: str | None) -> ProbeFrame | None:
    """``frame`` with only its images labelled ``name`` (all of them when it has none of that class
    or no class is asked for)."""
    if frame is None or name is None or name not in frame.class_names:
        return frame
    wanted = frame.class_names.index(name)
    positions = [i for i, label in enumerate(frame.labels) if int(label) == wanted]
    return slice_frame(frame, positions) if positions else frame
