"""The window's second bridge at work: explaining image files with the open run's models, apart
from the main job, so an image can be explained while training runs (then in a child process,
with the run's last committed epoch). Its events go to the run model like the main job's.

An analysis report explains with its own checkpoints; when loading them runs code (a model file,
trusted pickles) the user is asked once per report (``confirm``) before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.events import LogLine, ProbeFrame
from gui.jobs import factories
from gui.jobs.bridge import JobBridge
from gui.model.run_model import RunModel

__all__ = ["ImageExplainer"]


class ImageExplainer:
    """Starts explanations on ``bridge`` and feeds its log lines, frames, failures and ends to
    ``model``; the epoch each explanation used is named when it ends."""

    def __init__(self, model: RunModel, bridge: JobBridge, confirm: Callable[[str], bool] | None = None):
        self.model = model
        self.bridge = bridge
        self.confirm = confirm or (lambda _what: False)
        self._trusted: set[str] = set()  # reports whose code the user agreed to run
        self._epoch: int | None = None  # the epoch whose models explain (None: the latest)
        bridge.event.connect(self._on_event)
        bridge.frame_recorded.connect(self._on_frame)
        bridge.failed.connect(model.fail)
        bridge.job_done.connect(lambda result: model.end_explain(result is not None, self._epoch))

    def explain(
        self, image_path: str | Path, target: int | None, label: int | None, in_child: bool
    ) -> str | None:
        """Start explaining ``image_path`` for class ``target`` (None: each model's prediction)
        with the user's ``label`` (None: unknown), in a child process when ``in_child``. Returns
        None once started, else why it cannot be (nothing started)."""
        problem = self.model.explain_block_reason() or factories.image_problem(image_path)
        if problem is not None:
            return problem
        run_dir, trust = self.model.run_dir, {}
        needs = factories.code_to_trust(run_dir)
        if needs and run_dir not in self._trusted:
            if not self.confirm(needs):
                return f"Not explained: {needs}, and running it was not confirmed."
            self._trusted.add(run_dir)
        if needs:
            trust = {"trust_code": True}
        epoch = self.model.explain_epoch()
        factory = factories.explain_factory(
            run_dir, image_path, epoch, target=target, label=label, in_child=in_child, **trust
        )
        self._epoch = epoch
        self.bridge.start(factory)
        self.model.begin_explain(Path(image_path).name)
        return None

    def _on_event(self, event: object) -> None:
        if isinstance(event, LogLine):  # progress of one image is not the main job's progress
            self.model.log(event.message, event.level)

    def _on_frame(self, frame: ProbeFrame) -> None:
        self._epoch = frame.epoch
        self.model.add_explained(str(frame.flags.get("image_path", "opened image")), frame)
