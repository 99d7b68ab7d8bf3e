"""The base of every error a user can cause. The CLI prints its message and exits 2; the GUI
shows it in a dialog and keeps running. Messages say what went wrong and what to do.

Also the two checks of user input that every layer makes alike: a text that must be a JSON object
(:func:`json_object`) and a path that must be a file, or a folder (:func:`require_path`).
"""

from __future__ import annotations

from pathlib import Path


class KDLensError(Exception):
    """An error caused by input, configuration or files, with a message meant for the user."""


def json_object(text: str, what: str, error: type[KDLensError] = KDLensError) -> dict:
    """``text`` parsed as a JSON object; otherwise ``error`` saying that ``what`` is not one."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{what} must be a JSON object, not {type(data).__name__}")
    return data


def require_path(
    path: Path,
    *,
    what: str,
    error: type[KDLensError],
    instead: str,
    missing: str = "",
    folder: bool = False,
) -> Path:
    """``path`` when it is a file (a folder when ``folder``); otherwise ``error``: "<what> <path> is
    a folder, not a file; <instead>" (or the other way round) or "<what> <path> does not
    exist<missing>". ``instead`` and ``missing`` say what to do."""
    wanted, other = ("folder", "file") if folder else ("file", "folder")
    if path.is_file() if folder else path.is_dir():
        raise error(f"{what} {path} is a {other}, not a {wanted}; {instead}")
    if not (path.is_dir() if folder else path.is_file()):
        raise error(f"{what} {path} does not exist{missing}")
    return path
