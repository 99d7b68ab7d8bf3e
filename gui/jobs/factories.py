"""The engine jobs the window can start, as factories ``(stop_token) -> iterator of events``.

Training runs in a child process (``gui.jobs.child``): the engine's Python-heavy work would
otherwise hold the GIL and stall the window. Replay and explain-one-image are short and run on
the bridge's thread; they import the engine on their first step, inside the worker thread, so
the window opens fast and still opens while an engine module is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.events import StopToken
from engine.jobs.driver import JobFactory
from gui.jobs.child import in_process


def runs_root() -> Path:
    """Default parent folder of new runs (per-user data folder)."""
    from platformdirs import user_data_path

    return user_data_path("kdlens", appauthor=False) / "runs"


def new_run_dir(root: str | Path, name: str) -> Path:
    """A fresh, timestamped run folder name under ``root`` (not created here)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{stamp}-{name}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}-{name}-{suffix}"
    return path


def demo_factory(out_dir: str | Path, preset: str = "kd-gain", quick: bool = False) -> JobFactory:
    """The built-in demo, trained in a child process so the window keeps its interpreter."""
    return in_process("engine.jobs.demo:demo_job", str(out_dir), preset=preset, quick=quick)


def train_factory(config: dict[str, Any], out_dir: str | Path, resume: bool = False) -> JobFactory:
    """A custom run from the setup panel's mapping; the engine validates it and names problems."""
    return in_process("gui.jobs.child:train_from_dict", config, str(out_dir), resume=resume)


def replay_factory(run_dir: str | Path) -> JobFactory:
    def job(stop: StopToken) -> Iterator[Any]:
        from engine.runs import replay

        for event in replay(run_dir):
            stop.check()
            yield event

    return job


def resume_factory(run_dir: str | Path) -> JobFactory:
    """Continue an interrupted run from its last complete epoch, with its own configuration; its
    stored history is replayed first so the panels show the whole run."""

    def job(stop: StopToken) -> Iterator[Any]:
        from engine.events import JobFinished

        for event in replay_factory(run_dir)(stop):
            if not isinstance(event, JobFinished):
                yield event
        yield from in_process("gui.jobs.child:train_from_dict", None, str(run_dir), resume=True)(stop)

    return job


def explain_factory(run_dir: str | Path, image_path: str | Path, epoch: int | None = None) -> JobFactory:
    def job(stop: StopToken) -> Iterator[Any]:
        from engine.jobs.explain import explain_image_job

        yield from explain_image_job(run_dir, image_path, epoch=epoch, stop=stop)

    return job
