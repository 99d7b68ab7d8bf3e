"""Run a long engine job in a child process and stream its events back to the bridge's thread.

Why: a job running on a thread shares Python's GIL with the window; the engine's Python-heavy
steps (data generation, model set-up, the training loop itself) then delay the GUI thread by
tens to hundreds of milliseconds. In a child process the window keeps its interpreter to itself.
The bridge still sees an ordinary job (a generator checking a stop token): this module forwards
stop/pause/resume to a :class:`StopToken` in the child and re-yields the child's events.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.events import StopToken
from engine.jobs.driver import JobFactory, JobFailed, JobFailure, drive

# (this module is imported by the child process too: it must not import Qt)

POLL_S = 0.05
STOP_GRACE_S = 60.0  # a stopped job finishes its current step (and writes its epoch) first


def job_function(target: str) -> Callable[..., Iterator[Any]]:
    """The job named ``"module:function"``, imported where it runs (a child process, or a thread)."""
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def in_process(target: str, /, *args: Any, **kwargs: Any) -> JobFactory:
    """A job factory running ``module:function(*args, stop=token, **kwargs)`` in a child process
    (``target`` is positional-only, so a job may take a ``target`` keyword of its own)."""

    def job(stop: StopToken) -> Iterator[Any]:
        context = multiprocessing.get_context("spawn")
        events, events_child = context.Pipe(duplex=False)
        control_child, control = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_main, args=(target, args, kwargs, events_child, control_child), daemon=True
        )
        process.start()
        events_child.close()
        control_child.close()
        sent = "run"
        try:
            while True:
                wanted = "stop" if stop.stopped else "pause" if stop.paused else "run"
                if wanted != sent:
                    control.send(wanted)
                    sent = wanted
                if not events.poll(POLL_S):
                    if not process.is_alive() and not events.poll():
                        raise JobFailed(_ended_early(f"exit code {process.exitcode}"))
                    continue
                try:
                    kind, payload = events.recv()
                except EOFError:
                    raise JobFailed(_ended_early("its pipe closed")) from None
                if kind == "event":
                    yield payload
                elif kind == "failed":  # classified in the child by the same driver
                    raise JobFailed(payload)
                else:  # "done"
                    return
        finally:
            if process.is_alive():
                if sent != "stop":
                    control.send("stop")
                process.join(STOP_GRACE_S)
            if process.is_alive():
                process.terminate()
                process.join(5)
            events.close()
            control.close()

    return job


def train_from_dict(
    config: dict[str, Any] | None,
    out_dir: str | Path,
    stop: StopToken,
    resume: bool = False,
    processes: int = 1,
) -> Iterator[Any]:
    """``train_job`` for a configuration given as a plain mapping (what the setup panel makes);
    with ``processes`` > 1 in that many local ranks, streaming rank 0's events."""
    from engine.jobs.train import train_job
    from engine.training.config import TrainConfig

    train_config = None if config is None else TrainConfig.from_dict(config)
    if processes > 1:
        from engine.distributed import per_rank_batch
        from engine.distributed.launch import launched_job

        if train_config is not None:
            train_config.validate()
            per_rank_batch(train_config.batch_size, processes)
        kwargs = {"config": train_config, "out_dir": str(out_dir), "resume": resume}
        yield from launched_job(processes, "train", kwargs, stop)
        return
    yield from train_job(train_config, out_dir, stop=stop, resume=resume)


def analyze_from_dict(config: dict[str, Any], stop: StopToken) -> Iterator[Any]:
    """``analyze_job`` for an ``AnalyzeConfig`` given as a plain mapping (the setup panel's)."""
    from engine.jobs.analyze import analyze_job
    from engine.jobs.analyze_config import AnalyzeConfig

    yield from analyze_job(AnalyzeConfig.from_mapping(config), stop=stop)


def demo_on_device(out_dir: str | Path, preset: str, device: str, stop: StopToken, quick: bool = False):
    """The demo preset trained on ``device`` (``cpu`` or ``cuda``)."""
    from dataclasses import replace

    from engine.jobs.demo import demo_config
    from engine.jobs.train import train_job

    yield from train_job(replace(demo_config(preset, quick=quick), device=device), out_dir, stop=stop)


def _child_main(target: str, args: tuple, kwargs: dict, events, control) -> None:
    """The child: runs the job with its own stop token, driven by the parent's control pipe."""
    # Training keeps every core busy; a lower priority lets the window's thread win the CPU
    # whenever it wants it, so the GUI stays smooth while training barely slows down.
    with contextlib.suppress(AttributeError, OSError):  # os.nice does not exist on Windows
        os.nice(10)
    token = StopToken()

    def listen() -> None:
        actions = {"stop": token.stop, "pause": token.pause, "run": token.resume}
        while True:
            try:
                message = control.recv()
            except (EOFError, OSError):  # the parent went away: stop after the current step
                token.stop()
                return
            actions[message]()

    threading.Thread(target=listen, daemon=True).start()
    try:
        function = job_function(target)
        failure = drive(lambda stop: function(*args, stop=stop, **kwargs), token, _sender(events))
        _send_quietly(events, ("done", None) if failure is None else ("failed", failure))
    except BaseException as exc:  # even the import failed: report it to the window
        _send_quietly(events, ("failed", JobFailure(f"the job could not start: {type(exc).__name__}: {exc}")))
    finally:
        events.close()


def _sender(events):
    def send(event: object) -> None:
        events.send(("event", event))  # a closed pipe (the window went away) ends the job

    return send


def _ended_early(why: str) -> JobFailure:
    return JobFailure(
        f"The job's process ended unexpectedly ({why}); what it wrote up to its last complete epoch "
        "is kept, so the run can be continued."
    )


def _send_quietly(events, *messages: tuple[str, Any]) -> None:
    try:
        for message in messages:
            events.send(message)
    except OSError:  # the window went away
        pass
