"""Write files so that readers only ever see the old content or the complete new one (SPEC §7).

The data goes to a temporary file in the same folder (so the final rename never crosses file
systems), is flushed to disk with fsync, and then replaces the target with ``os.replace``, which
is atomic on POSIX and Windows. If writing fails, the temporary file is removed and the target
is left as it was: a crash or a full disk never leaves a half-written checkpoint or run file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from engine.errors import KDLensError

__all__ = ["FileWriteError", "atomic_save", "atomic_write_bytes", "atomic_write_text"]


class FileWriteError(KDLensError, OSError):
    """The operating system refused a write (no such folder, no permission, disk full)."""


def _fsync_file(path: Path) -> None:
    # O_RDWR rather than O_RDONLY: Windows refuses fsync on a read-only descriptor.
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; POSIX only, and best effort (some file systems refuse)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_save(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Let ``writer`` write a temporary file next to ``path``, then move it onto ``path`` atomically.

    ``writer`` receives the temporary file's path (it exists and is empty) and must write the
    whole content there and close it, e.g. ``lambda tmp: torch.save(state, tmp)``. The parent
    folder is created if needed. Any exception from ``writer`` removes the temporary file and is
    re-raised unchanged, except OS errors, which become :class:`FileWriteError`.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    created = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 filtered by the umask, like an ordinary open(): mkstemp would force 0o600.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        created = True
        writer(temporary)
        _fsync_file(temporary)
        os.replace(temporary, target)
        created = False
    except OSError as error:
        raise FileWriteError(
            f"could not write {target}: {error.strerror or error}. Check that the folder is writable "
            "and the disk has free space, or choose another location."
        ) from error
    finally:
        if created:
            with contextlib.suppress(OSError):
                temporary.unlink()
    _fsync_folder(target.parent)
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_save`)."""
    return atomic_save(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``text`` atomically; newlines are written as given (no translation)."""
    return atomic_save(path, lambda temporary: temporary.write_bytes(text.encode(encoding)))
