"""Train teacher, base and student with live explanations, into a resumable run folder (SPEC §5, §7).

:func:`train_job` is a generator of events (STYLE.md): drive it from a ``for`` loop, the CLI or
the GUI's worker thread. Every check that can fail on the user's input (architecture names,
data folder, class counts of loaded checkpoints) runs before the first training step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from engine.atomic import atomic_remove, writable_folder
from engine.distributed.group import Group, LocalGroup
from engine.events import Event, JobFinished, JobStopped, LogLine, StopToken
from engine.runs.folder import RunDir
from engine.runs.lock import LOCK_FILE, run_lock
from engine.runs.notices import NOTICES, teacher_notice
from engine.runs.writer import RunWriter
from engine.training.config import ConfigError, TrainConfig
from engine.training.follower import FollowerExplanations, FollowerWriter
from engine.training.loop import TrainingDivergedError
from engine.training.session import TrainingSession
from engine.training.setup import check_device, choose_sets, load_run_data, prepare_models

__all__ = ["train_job"]


def train_job(
    config: TrainConfig | None,
    out_dir: str | Path,
    stop: StopToken | None = None,
    resume: bool = False,
    group: Group = LocalGroup(),
) -> Iterator[Event]:
    """Train the roles of ``config`` into ``out_dir``, yielding Progress, EpochSummary,
    ProbeFrame, MetricsRow, CheckpointWritten and LogLine events, then one JobFinished.

    ``resume=True`` continues the run in ``out_dir`` from its last complete epoch with the
    configuration stored there (``config`` may be None; if given it must match). A stop asked
    through ``stop`` ends the job with ``JobFinished(stopped=True)``; a NaN loss raises
    :class:`TrainingDivergedError` after a LogLine, keeping the last complete epoch's files.

    ``group``: the processes sharing the run (:mod:`engine.distributed`; every rank calls this).
    Rank 0 checks, locks and writes the run folder as one process does and hands the other ranks
    the configuration and the fixed sets; they train their share and write nothing.
    """
    stop = stop or StopToken()
    if not group.leader:
        yield from _follow(out_dir, stop, group)
        return
    writer = RunWriter(out_dir)
    run = writer.run
    writable_folder(run.path, "the run folder")
    if not resume:
        if config is None:
            raise ConfigError("a new training run needs a configuration")
        config.validate()
    elif not (run.is_run() or run.is_started()):
        run.require_run()  # says what the folder is instead
    threads_before = torch.get_num_threads()
    try:
        if not resume:  # every check that needs data or checkpoints, before anything is written
            if run.path.is_dir():
                _require_empty(run.path, clean=False)  # before the lock: a refused folder gets no lock file
            prepared = _prepare(_on_rank(config, group))
        with run_lock(run.path, "training (resume)" if resume else "training"):
            if resume:
                stored = TrainConfig.load(run.config_path)
                if config is not None and config != stored:
                    raise ConfigError(
                        f"{run.path} was started with another configuration; resume it without a config "
                        "(kdlens-cli train --resume RUN_DIR) or start a new run in an empty folder"
                    )
                config = stored
                prepared = _prepare(_on_rank(config, group))
            else:
                _require_empty(run.path)
            yield from _run(config, writer, stop, resume, prepared, group)
    finally:
        torch.set_num_threads(threads_before)


def _prepare(config: TrainConfig) -> tuple:
    """The device checked, the data loaded, the models built or loaded, the fixed sets chosen."""
    check_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_run_data(config)
    models, specs = prepare_models(config, data)
    return data, models, specs, choose_sets(config, data)


def _on_rank(config: TrainConfig, group: Group) -> TrainConfig:
    """The configuration a rank trains with: ``cuda`` is this rank's GPU; one process: unchanged."""
    return replace(config, device=group.device(config.device))


def _follow(out_dir: str | Path, stop: StopToken, group: Group) -> Iterator[Event]:
    """A rank other than 0: rank 0's configuration and sets, its own data and models, training
    with a writer that writes nothing and explanations that only join rank 0's FSS/RS."""
    config_json, sets = group.broadcast_object()
    config = _on_rank(TrainConfig.from_json(config_json), group)
    data, models, specs, _ = _prepare(config)
    writer = FollowerWriter(out_dir)
    session = TrainingSession(config, data, models, specs, sets, writer, stop, group, FollowerExplanations)
    try:
        yield from session.run()
    except JobStopped:
        return


def _require_empty(folder: Path, clean: bool = True) -> None:
    """A new run goes into an empty folder; the lock and temp files of a killed start don't count."""

    def ours(p: Path) -> bool:
        return p.name == LOCK_FILE or (p.name.startswith(".") and p.name.endswith(".tmp"))

    own = [p for p in folder.iterdir() if ours(p)]
    if RunDir(folder).is_run() or len(own) != len(list(folder.iterdir())):
        raise ConfigError(
            f"{folder} is not empty; pick an empty or new folder for a new run, or resume the run there "
            "with --resume"
        )
    for temporary in own if clean else ():
        if temporary.name != LOCK_FILE:
            atomic_remove(temporary)


def _run(
    config: TrainConfig,
    writer: RunWriter,
    stop: StopToken,
    resume: bool,
    prepared: tuple,
    group: Group,
) -> Iterator[Event]:
    run = writer.run
    data, models, specs, sets = prepared
    if resume:
        for note in writer.reopen(sets):
            yield LogLine(f"{run.path}: {note}", level="warning")
        sets = run.read_sets() or sets
        if run.read_state().get("finished"):
            yield LogLine(f"{run.path} has already finished; nothing to resume")
    else:
        writer.start(config.to_json(), sets)
    yield LogLine(
        f"training {', '.join(f'{r}={c.arch}' for r, c in config.roles().items())} on "
        f"{len(data.student_train)} images ({data.num_classes} classes) into {run.path}"
    )
    for note in sets.get("notes", ()):  # what had to shrink to fit the data, said once
        yield LogLine(note)

    group.broadcast_object((config.to_json(), sets))  # the other ranks' configuration and sets
    session = TrainingSession(_on_rank(config, group), data, models, specs, sets, writer, stop, group)
    try:
        yield from session.run()
    except JobStopped:
        yield LogLine(f"stopped; resume with: kdlens-cli train --resume {run.path}")
        yield JobFinished(summary=_summary(session, writer), stopped=True, out_dir=str(run.path))
        return
    except TrainingDivergedError as exc:
        yield LogLine(str(exc), level="error")
        raise
    summary = _summary(session, writer)
    writer.commit(finished=True, summary=summary)
    for notice in summary[NOTICES]:
        yield LogLine(notice, level="warning")
    yield JobFinished(summary=summary, stopped=False, out_dir=str(run.path))


def _summary(session: TrainingSession, writer: RunWriter) -> dict:
    notice = teacher_notice(session.accuracy)  # a teacher below the base: said plainly
    return {
        "heldout_accuracy": dict(session.accuracy),
        "heldout_accuracy_by_split": {split: dict(acc) for split, acc in session.split_accuracy.items()},
        "completed_epochs": dict(writer.completed),
        "out_dir": str(writer.run.path),
        NOTICES: [notice] if notice else [],
    }
