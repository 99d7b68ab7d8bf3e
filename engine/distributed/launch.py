"""``--nproc N``: a job in N local processes started by torch's elastic agent (what torchrun runs),
with rank 0's events streamed back to the caller as if the job ran here.

:func:`launched_job` is itself a job (a generator of events taking a stop token), so the CLI shows
it with its usual progress bar and the window's child process streams it like any training run.
The ranks run ``python -m engine.distributed.rank`` (:mod:`engine.distributed.rank`): the agent
sets torchrun's environment, every rank joins the process group, and each connects back to a
local, authenticated socket here: rank 0 sends its events, any rank that fails sends its
message, and a stop asked for here is passed to rank 0, which shares it with the others at the
next step. When one rank fails, the agent stops all of them; the first failure is raised here as a
:class:`~engine.distributed.group.DistributedError` with that rank's message.
"""

from __future__ import annotations

import logging
import pickle
import queue
import secrets
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from engine.distributed.group import DistributedError
from engine.events import Event, StopToken

__all__ = ["JOBS", "launched_job"]

JOBS = ("train", "analyze")
POLL_S = 0.1
_ENDED = object()


def launched_job(
    nproc: int, job: str, kwargs: dict[str, Any], stop: StopToken | None = None
) -> Iterator[Event]:
    """Run ``job`` (``train``: :func:`engine.jobs.train.train_job`; ``analyze``:
    :func:`engine.jobs.analyze.analyze_job`) with ``kwargs`` in ``nproc`` local ranks; yields
    rank 0's events. Raises DistributedError with the failing rank's message when one fails."""
    if job not in JOBS:
        raise DistributedError(f"unknown distributed job {job!r}; one of {', '.join(JOBS)}")
    if nproc < 1:
        raise DistributedError(f"--nproc must be at least 1, got {nproc}")
    stop = stop or StopToken()
    inbox: queue.Queue = queue.Queue()
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="kdlens-ranks-") as folder, Listener(authkey=key) as listener:
        payload = Path(folder) / "job.pickle"
        payload.write_bytes(
            pickle.dumps({"job": job, "kwargs": kwargs, "address": listener.address, "key": key})
        )
        readers: list[threading.Thread] = []
        leader: list[Connection] = []
        threading.Thread(target=_accept, args=(listener, nproc, inbox, readers, leader), daemon=True).start()
        agent = threading.Thread(target=_run_agent, args=(nproc, str(payload), inbox), daemon=True)
        agent.start()
        failures: list[tuple[int, str]] = []
        asked_stop = False
        outcome: BaseException | None = None
        try:
            while True:
                if stop.stopped and not asked_stop and leader:
                    asked_stop = _send(leader[0], "stop")
                try:
                    item = inbox.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if isinstance(item, tuple) and item[0] is _ENDED:
                    outcome = item[1]
                    break
                kind, payload_item = item
                if kind == "event":
                    yield payload_item
                elif kind == "failed":
                    failures.append(payload_item)
        except GeneratorExit:  # the caller went away: the ranks stop at their next step
            if leader and not asked_stop:
                _send(leader[0], "stop")
            raise
        for reader in readers:  # every rank has exited: the readers reach the end of their sockets
            reader.join(5.0)
        while not inbox.empty():
            kind, payload_item = inbox.get()
            if kind == "event":
                yield payload_item
            elif kind == "failed":
                failures.append(payload_item)
    if outcome is not None or failures:
        raise DistributedError(_failure_message(outcome, failures, nproc))


def _accept(listener: Listener, nproc: int, inbox: queue.Queue, readers: list, leader: list) -> None:
    for _ in range(nproc):
        try:
            connection = listener.accept()
        except OSError:  # the listener was closed: the job is over
            return
        rank = connection.recv()
        if rank == 0:
            leader.append(connection)
        reader = threading.Thread(target=_read, args=(connection, inbox), daemon=True)
        readers.append(reader)
        reader.start()


def _read(connection: Connection, inbox: queue.Queue) -> None:
    try:
        while True:
            inbox.put(connection.recv())
    except (EOFError, OSError):
        return
    finally:
        connection.close()


def _send(connection: Connection, message: str) -> bool:
    try:
        connection.send(message)
    except OSError:
        return False
    return True


def _run_agent(nproc: int, payload: str, inbox: queue.Queue) -> None:
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"kdlens-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # torchrun --standalone: a free port on this machine
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    outcome: BaseException | None = None
    try:
        with _quiet_agent():
            elastic_launch(config, sys.executable)("-m", "engine.distributed.rank", payload)
    except BaseException as exc:  # noqa: BLE001 - handed to the generator, which raises it
        outcome = exc
    inbox.put((_ENDED, outcome))


@contextmanager
def _quiet_agent():
    """The agent logs every worker's start and failure; the failure is reported once, by us."""
    logger = logging.getLogger("torch.distributed.elastic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _failure_message(outcome: BaseException | None, failures: list[tuple[int, str]], nproc: int) -> str:
    if failures:
        rank, message = failures[0]  # the first to arrive: later ones may be its consequences
        return f"rank {rank} of {nproc} failed and every rank was stopped: {message}"
    failed = getattr(outcome, "failures", None)
    if failed:  # torch's ChildFailedError: the first failure by time
        rank, failure = outcome.get_first_failure()  # type: ignore[union-attr]
        if failure.exitcode < 0:
            why = f"was killed by signal {failure.signal_name()}"
        else:
            message = failure.message
            if isinstance(message, dict):
                message = message.get("message", "")
            why = f"exited with code {failure.exitcode}" + (
                f" ({message})" if "pytorch.org" not in message else ""
            )
        return f"rank {rank} of {nproc} {why}; every rank was stopped"
    return f"the distributed launch failed: {outcome}"
