"""The run model's events: one plain :class:`~gui.model.evented.Emitter` per kind of change, each
with what its callbacks receive. Panels and the window subscribe to the ones they need."""

from __future__ import annotations

from gui.model.evented import Emitter

__all__ = ["RunEvents"]


class RunEvents:
    """The model's emitters; each comment says what its callbacks receive."""

    def __init__(self) -> None:
        self.cleared = Emitter()  # (): a new run starts or is opened; everything was emptied
        self.run = Emitter()  # (run folder or None): the open run changed
        self.job = Emitter()  # (TRAIN, REPLAY or None): what the main job does
        self.status = Emitter()  # (text): one line saying what the job does now
        self.progress = Emitter()  # (Progress, time-left text)
        self.curves = Emitter()  # (): losses or accuracies changed
        self.metrics = Emitter()  # (): FSS / RS rows changed
        self.log = Emitter()  # (message, level)
        self.epochs = Emitter()  # (list of epochs with something to show)
        self.epoch = Emitter()  # (epoch, frame or None): the shown epoch changed
        self.preview = Emitter()  # (frame): a teacher-phase frame, shown until a KD frame exists
        self.explained = Emitter()  # (name, frame): an opened image file was explained
        self.explain_requested = Emitter()  # (path, target or None, label or None)
        self.explainable = Emitter()  # (None, or why no image can be explained now)
        self.inspected = Emitter()  # (index or None): the probe image in the inspector
        self.options = Emitter()  # (DisplayOptions)
        self.busy = Emitter()  # (bool): a job runs
        self.paused = Emitter()  # (bool)
        self.finished = Emitter()  # (JobFinished or None when the job failed)
        self.failed = Emitter()  # (message, details)
        self.evidence = Emitter()  # (Evidence): an evidence table arrived (see history.evidence_at)
        self.study = Emitter()  # (folder, document), or (None, None): the study on screen changed
        self.open_requested = Emitter()  # (run folder): a panel asks for a run to be opened
        self.compare_requested = Emitter()  # (run folders): a panel or action asks to overlay them
        self.notices = Emitter()  # (list of texts): what the run says about itself (a weak teacher)
        self.class_filter = Emitter()  # (class name or None): only that class's probe images are shown
