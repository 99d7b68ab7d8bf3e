"""Write files so that readers only ever see the old content or the complete new one (SPEC §7).

The data goes to a temporary file in the same folder (so the final rename never crosses file
systems), is flushed to disk with fsync, and then replaces the target with ``os.replace``, which
is atomic on POSIX and Windows. If writing fails, the temporary file is removed and the target
is left as it was: a crash or a full disk never leaves a half-written checkpoint or run file.

Every step that changes what a folder holds (a rename, a removal) passes a *fault point* first.
Tests install a hook there (:func:`set_fault_hook`) to kill the process at exactly the n-th file
operation; nothing else in this module knows about tests.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from engine.errors import KDLensError

__all__ = [
    "FileWriteError",
    "atomic_remove",
    "atomic_rename",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "fault_point",
    "set_fault_hook",
    "writable_folder",
]

FaultHook = Callable[[str, Path], None]
_hook: FaultHook | None = None


class FileWriteError(KDLensError, OSError):
    """The operating system refused a write (no such folder, no permission, disk full)."""


def set_fault_hook(hook: FaultHook | None) -> FaultHook | None:
    """Install ``hook(kind, path)``, called before every rename and removal and after every
    rename (kinds ``rename``, ``renamed``, ``remove``); returns the previous hook."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def fault_point(kind: str, path: Path) -> None:
    if _hook is not None:
        _hook(kind, path)


def _write_error(target: Path, error: OSError) -> FileWriteError:
    return FileWriteError(
        f"could not write {target}: {error.strerror or error}. Check that the folder is writable "
        "and the disk has free space, or choose another location."
    )


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
        fault_point("rename", target)
        os.replace(temporary, target)
        created = False
    except OSError as error:
        raise _write_error(target, error) from error
    finally:
        if created:
            with contextlib.suppress(OSError):
                temporary.unlink()
    fault_point("renamed", target)
    _fsync_folder(target.parent)
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_save`)."""
    return atomic_save(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``text`` atomically; newlines are written as given (no translation)."""
    return atomic_save(path, lambda temporary: temporary.write_bytes(text.encode(encoding)))


def atomic_rename(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename a file or folder in one step (``os.replace``; a folder needs an absent or empty
    target), made durable; OS errors become :class:`FileWriteError`."""
    source, target = Path(source), Path(target)
    fault_point("rename", target)
    try:
        os.replace(source, target)
    except OSError as error:
        raise _write_error(target, error) from error
    fault_point("renamed", target)
    _fsync_folder(target.parent)
    return target


def atomic_remove(path: str | os.PathLike[str]) -> None:
    """Remove a file if it is there (a file already gone is not an error)."""
    path = Path(path)
    fault_point("remove", path)
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise FileWriteError(f"could not remove {path}: {error.strerror or error}") from error


def writable_folder(path: str | os.PathLike[str], what: str = "the output folder") -> Path:
    """Check, creating nothing, that ``path`` can be (or is) a folder this process may write in.

    Raises :class:`FileWriteError` saying why not: ``path`` is a file, a file stands where one
    of its parent folders should be, or the place is read-only (a read-only file system, or no
    permission).
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise FileWriteError(f"{what} {path} is a file, not a folder; give a folder path")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise FileWriteError(
            f"{what} {path} cannot be created: {existing} is a file, not a folder; give a folder path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(existing) else "is not writable for this user"
        raise FileWriteError(f"{what} {path} cannot be written: {existing} {why}; choose another folder")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs on Windows
        return False
