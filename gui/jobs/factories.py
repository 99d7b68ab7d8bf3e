"""The engine jobs the window can start, as factories ``(stop_token) -> iterator of events``.

Training runs in a child process (``gui.jobs.child``): the engine's Python-heavy work would
otherwise hold the GIL and stall the window. Replay and explain-one-image are short and run on
a bridge's thread (an explanation asked for while training runs goes to a child process too);
they import the engine on their first step, inside the worker thread, so the window opens fast
and still opens while an engine module is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.events import StopToken
from engine.jobs.driver import JobFactory
from gui.jobs.child import in_process, job_function
from gui.model.job_choice import ANALYZE, JobChoice

#: Every job this module starts by name ("module:function"), imported where it runs: a child
#: process, or the explain bridge's thread. tests/test_job_names.py resolves each one.
JOBS = {
    "demo": "engine.jobs.demo:demo_job",
    "demo_on_device": "gui.jobs.child:demo_on_device",
    "analyze": "gui.jobs.child:analyze_from_dict",
    "train": "gui.jobs.child:train_from_dict",
    "explain": "engine.jobs.explain:explain_image_job",
    "explain_report": "engine.jobs.explain_report:explain_report_image_job",
}


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


def run_folder_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be opened as a run, or None. Cheap (a few small files), torch-free, so
    the window checks a folder before it lets it replace the open run."""
    import json

    from engine.runs import NotARunError, RunDir

    run = RunDir(path)
    try:
        run.require_run()
        run.read_state()
        json.loads(run.config_path.read_text(encoding="utf-8"))
    except NotARunError as exc:
        return str(exc)
    except (OSError, ValueError) as exc:
        return f"{run.path}: its config.json cannot be read ({exc}); the run folder is damaged"
    return None


def image_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be explained as an image, or None (reads the file's header only)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist; pick an image file."
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return (
            f"{path.name}: this file is not an image PIL can read; open a PNG, JPEG, BMP, TIFF, "
            "WebP or GIF file."
        )
    return None


def demo_factory(
    out_dir: str | Path, preset: str = "kd-gain", quick: bool = False, device: str = "cpu"
) -> JobFactory:
    """The built-in demo, trained in a child process so the window keeps its interpreter."""
    if device != "cpu":
        return in_process(JOBS["demo_on_device"], str(out_dir), preset, device, quick=quick)
    return in_process(JOBS["demo"], str(out_dir), preset=preset, quick=quick)


def chosen_factory(choice: JobChoice, out_dir: Path) -> tuple[JobFactory, str]:
    """The job Start starts for ``choice`` into ``out_dir`` (a demo preset, an analysis of
    checkpoints or a custom run), and what the log says about it."""
    if choice.preset == ANALYZE:
        return analyze_factory({**(choice.config or {}), "out": str(out_dir)}), f"Analysing into {out_dir}"
    if choice.preset:
        return demo_factory(out_dir, choice.preset, device=choice.device), f"Training into {out_dir}"
    config = dict(choice.config or {})
    return train_factory(config, out_dir, processes=choice.processes), f"Training into {out_dir}"


def analyze_factory(config: dict[str, Any]) -> JobFactory:
    """Analyse given checkpoints into a report folder (``config``: an AnalyzeConfig mapping), in a
    child process: the window's interpreter never imports torch."""
    return in_process(JOBS["analyze"], config)


def report_factory(report_dir: str | Path) -> JobFactory:
    """Open an analysis report as the events its analysis streamed (read whole before the first)."""

    def job(stop: StopToken) -> Iterator[Any]:
        from engine.reports.folder import report_events

        stop.check()
        yield from report_events(report_dir)

    return job


def code_to_trust(folder: str | Path | None) -> str | None:
    """What explaining with ``folder``'s models would run as code (an analysis report made with a
    model file or trusted pickles), or None. Cheap and torch-free."""
    from engine.reports.folder import NotAReportError, code_to_trust, is_report, read_manifest

    if folder is None or not is_report(folder):
        return None
    try:
        return code_to_trust(read_manifest(folder))
    except NotAReportError:
        return None


def train_factory(
    config: dict[str, Any], out_dir: str | Path, resume: bool = False, processes: int = 1
) -> JobFactory:
    """A custom run from the setup panel's mapping; the engine validates it and names problems.
    ``processes`` > 1: that many local ranks (torch's elastic agent), rank 0's events streamed."""
    return in_process(JOBS["train"], config, str(out_dir), resume=resume, processes=processes)


def replay_factory(run_dir: str | Path) -> JobFactory:
    """Replay a run folder. Everything is read before the first event is yielded, so a damaged
    file fails the job before the window has replaced the open run with a half-read one."""

    def job(stop: StopToken) -> Iterator[Any]:
        from engine.runs import replay

        events = []
        for event in replay(run_dir):
            stop.check()
            events.append(event)
        yield from events

    return job


def resume_factory(run_dir: str | Path) -> JobFactory:
    """Continue an interrupted run from its last complete epoch, with its own configuration; its
    stored history is replayed first so the panels show the whole run."""

    def job(stop: StopToken) -> Iterator[Any]:
        from engine.events import JobFinished

        for event in replay_factory(run_dir)(stop):
            if not isinstance(event, JobFinished):
                yield event
        yield from in_process(JOBS["train"], None, str(run_dir), resume=True)(stop)

    return job


def explain_factory(
    run_dir: str | Path,
    image_path: str | Path,
    epoch: int | None = None,
    *,
    target: int | None = None,
    label: int | None = None,
    in_child: bool = False,
    trust_code: bool = False,
) -> JobFactory:
    """Explain one image file with the run's models of ``epoch`` (None: the latest), for class
    ``target`` (None: each model's prediction), with the user's ``label`` (None: unknown). An
    analysis report's models explain it in the report's context batch (``trust_code``: the user
    confirmed that its model file may run).

    ``in_child`` runs it in a child process: while training runs, the window's interpreter must
    not import torch and compute maps on one of its threads (the GIL would stall the window)."""
    from engine.reports.folder import is_report

    kwargs: dict[str, Any] = {"epoch": epoch, "target": target, "label": label}
    target_job = JOBS["explain"]
    if is_report(run_dir):  # an analysis report: its checkpoints, its context batch
        target_job = JOBS["explain_report"]
        kwargs["trust_code"] = trust_code
    if in_child:
        return in_process(target_job, str(run_dir), str(image_path), **kwargs)

    def job(stop: StopToken) -> Iterator[Any]:
        yield from job_function(target_job)(run_dir, image_path, stop=stop, **kwargs)

    return job
