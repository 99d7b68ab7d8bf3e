"""One rank of a job started by :mod:`engine.distributed.launch` (``python -m engine.distributed.rank
PAYLOAD``): joins the process group from torchrun's environment, runs the job with its
:class:`~engine.distributed.group.Ranks` as the job's ``group``, and talks to the launcher over
its socket -- rank 0 sends every event and listens for a stop; a rank that fails on the user's
input sends its message and exits with code 2 (no traceback), so the agent stops the other ranks."""

from __future__ import annotations

import importlib
import pickle
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from engine.distributed.group import Group, joined, requested
from engine.errors import KDLensError
from engine.events import StopToken

PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")
JOB_FUNCTIONS = {"train": "engine.jobs.train:train_job", "analyze": "engine.jobs.analyze:analyze_job"}


def run_job(job: str, kwargs: dict[str, Any], stop: StopToken, group: Group) -> Iterator[Any]:
    module, name = JOB_FUNCTIONS[job].split(":")
    return getattr(importlib.import_module(module), name)(**kwargs, stop=stop, group=group)


def main(argv: list[str]) -> int:
    payload = pickle.loads(Path(argv[0]).read_bytes())
    stop = StopToken()
    if not requested():
        print("engine.distributed.rank runs under torchrun's agent only", file=sys.stderr)
        return 2
    with joined() as ranks:
        connection = Client(payload["address"], authkey=payload["key"])
        connection.send(ranks.rank)
        if ranks.leader:
            threading.Thread(target=_listen, args=(connection, stop), daemon=True).start()
        try:
            for event in run_job(payload["job"], payload["kwargs"], stop, ranks):
                if ranks.leader:
                    connection.send(("event", event))
        except KDLensError as exc:
            connection.send(("failed", (ranks.rank, str(exc))))
            return 2
        except RuntimeError as exc:  # a peer that ended first is the news, not this rank's traceback
            if not any(sign in str(exc) for sign in PEER_LOST):
                raise
            print(f"rank {ranks.rank}: stopped, another rank ended first", file=sys.stderr)
            return 1
        finally:
            connection.close()
    return 0


def _listen(connection: Connection, stop: StopToken) -> None:
    try:
        while connection.recv() == "stop":
            stop.stop()
    except (EOFError, OSError):
        return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
