"""One writer per run folder: an exclusive operating-system lock on ``<folder>/.kdlens.lock``.

The lock is taken for the whole run (training, resuming, a study) and released by the operating
system when the process ends in any way, kill -9 included, so a stale lock can never block a
folder. The file also names its holder (process id, host, what it runs, since when), so the
second writer is told who the first one is. Torch-free: the window checks a folder with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from engine.atomic import FileWriteError
from engine.errors import KDLensError

__all__ = ["LOCK_FILE", "RunLockedError", "lock_holder", "run_lock"]

LOCK_FILE = ".kdlens.lock"

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class RunLockedError(KDLensError):
    """Another process is writing this folder; the message names it."""


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another KD Lens process"
    where = "" if holder.get("host") == socket.gethostname() else f" on {holder.get('host')}"
    return (
        f"another KD Lens process (pid {holder.get('pid')}{where}, {holder.get('what', 'a run')}, "
        f"since {holder.get('since', '?')})"
    )


def _read_holder(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) while the block runs.

    Raises :class:`RunLockedError` naming the holder when another process has it, and
    :class:`FileWriteError` when the folder cannot be written at all.
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise FileWriteError(
            f"cannot write to {folder}: {error.strerror or error}. Choose a folder on a writable disk"
        ) from error
    try:
        if not _try_lock(fd):
            raise RunLockedError(
                f"{folder} is in use by {_describe(_read_holder(path))}; only one process may write "
                "a run folder. Wait for it to finish or stop it, or choose another folder"
            )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "what": what,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv[:4],
        }
        with contextlib.suppress(OSError):  # the name is a courtesy; the lock is what counts
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode("utf-8"))
        try:
            yield path
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def lock_holder(folder: str | os.PathLike[str]) -> str | None:
    """Who holds ``folder``'s lock (a sentence), or None when nobody does. Takes nothing."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return _describe(_read_holder(path))
    finally:
        os.close(fd)
