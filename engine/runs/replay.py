"""Replay a run folder: re-yield what the run streamed, in order, so the window can open an old run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from engine.events import Event, Evidence, JobFinished, MetricsRow
from engine.runs.folder import RunDir
from engine.runs.notices import NOTICES, summary_notices
from engine.vocab import KD_ROLES, TEACHER_PHASE_EPOCH

__all__ = ["replay"]


def replay(run_dir: str | Path | RunDir) -> Iterator[Event]:
    """Re-yield a run's stored EpochSummary, ProbeFrame, MetricsRow and Evidence events in the
    order they were streamed (the teacher's epoch-0 frame before the first KD epoch), then one
    JobFinished (``stopped`` when the run did not finish) whose summary lists the run's notices
    (a teacher weaker than the base, :mod:`engine.runs.notices`; an older run's from its history)."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    run.require_run()
    state = run.read_state()
    frames: dict[int, list[tuple[int | None, Path]]] = {}
    for epoch, step, path in run.probe_files():
        frames.setdefault(epoch, []).append((step, path))
    rows: dict[int, list[MetricsRow | Evidence]] = {}
    for row in [*run.read_metrics(), *run.read_evidence()]:
        rows.setdefault(row.epoch, []).append(row)

    def epoch_end(epoch: int) -> Iterator[Event]:
        for step, path in frames.pop(epoch, []):
            if step is None:
                yield run.read_probe(path)
        yield from rows.pop(epoch, [])

    history = run.read_history()
    kd_epochs_seen: set[int] = set()
    for index, summary in enumerate(history):
        if summary.role in KD_ROLES and summary.epoch not in kd_epochs_seen:
            if not kd_epochs_seen:
                yield from epoch_end(TEACHER_PHASE_EPOCH)
            kd_epochs_seen.add(summary.epoch)
            for step, path in frames.get(summary.epoch, []):
                if step is not None:
                    yield run.read_probe(path)
        yield summary
        later = history[index + 1 :]
        last_of_epoch = summary.role in KD_ROLES and not any(
            s.role in KD_ROLES and s.epoch == summary.epoch for s in later
        )
        if last_of_epoch:
            yield from epoch_end(summary.epoch)
    for epoch in sorted(set(frames) | set(rows)):  # epochs without a KD summary (loaded roles)
        yield from epoch_end(epoch)
    summary = dict(state.get("summary", {}))
    summary[NOTICES] = summary_notices(summary, history)  # an older run's too, from its history
    yield JobFinished(
        summary=summary,
        stopped=not state.get("finished", False),
        out_dir=str(run.path),
    )
