"""Train teacher, base and student with live explanations, into a resumable run folder (SPEC §5, §7).

:func:`train_job` is a generator of events (STYLE.md): drive it from a ``for`` loop, the CLI or
the GUI's worker thread. Every check that can fail on the user's input (architecture names,
data folder, class counts of loaded checkpoints) runs before the first training step.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from engine.events import Event, JobFinished, JobStopped, LogLine, StopToken
from engine.runs.writer import RunWriter
from engine.training.config import ConfigError, TrainConfig
from engine.training.loop import TrainingDivergedError
from engine.training.session import TrainingSession
from engine.training.setup import choose_sets, load_run_data, prepare_models

__all__ = ["train_job"]


def train_job(
    config: TrainConfig | None,
    out_dir: str | Path,
    stop: StopToken | None = None,
    resume: bool = False,
) -> Iterator[Event]:
    """Train the roles of ``config`` into ``out_dir``, yielding Progress, EpochSummary,
    ProbeFrame, MetricsRow, CheckpointWritten and LogLine events, then one JobFinished.

    ``resume=True`` continues the run in ``out_dir`` from its last complete epoch with the
    configuration stored there (``config`` may be None; if given it must match). A stop asked
    through ``stop`` ends the job with ``JobFinished(stopped=True)``; a NaN loss raises
    :class:`TrainingDivergedError` after a LogLine, keeping the last complete epoch's files.
    """
    stop = stop or StopToken()
    writer = RunWriter(out_dir)
    run = writer.run
    if resume:
        run.require_run()
        stored = TrainConfig.load(run.config_path)
        if config is not None and config != stored:
            raise ConfigError(
                f"{run.path} was started with another configuration; resume it without a config "
                "(kdlens-cli train --resume RUN_DIR) or start a new run in an empty folder"
            )
        config = stored
    else:
        if config is None:
            raise ConfigError("a new training run needs a configuration")
        if run.path.exists() and (run.is_run() or any(run.path.iterdir())):
            raise ConfigError(
                f"{run.path} is not empty; pick an empty or new folder for a new run, or resume the "
                "run there with --resume"
            )
        config.validate()
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        yield from _run(config, writer, stop, resume)
    finally:
        torch.set_num_threads(threads_before)


def _run(config: TrainConfig, writer: RunWriter, stop: StopToken, resume: bool) -> Iterator[Event]:
    run = writer.run
    data = load_run_data(config)
    models, specs = prepare_models(config, data)
    sets = choose_sets(config, data)
    if resume:
        writer.reopen()
        sets = run.read_sets() or sets
        if run.read_state().get("finished"):
            yield LogLine(f"{run.path} has already finished; nothing to resume")
    else:
        writer.start(config.to_json(), sets)
    yield LogLine(
        f"training {', '.join(f'{r}={c.arch}' for r, c in config.roles().items())} on "
        f"{len(data.student_train)} images ({data.num_classes} classes) into {run.path}"
    )

    session = TrainingSession(config, data, models, specs, sets, writer, stop)
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
    yield JobFinished(summary=summary, stopped=False, out_dir=str(run.path))


def _summary(session: TrainingSession, writer: RunWriter) -> dict:
    return {
        "heldout_accuracy": dict(session.accuracy),
        "heldout_accuracy_by_split": {split: dict(acc) for split, acc in session.split_accuracy.items()},
        "completed_epochs": dict(writer.completed),
        "out_dir": str(writer.run.path),
    }
