"""The base of every error a user can cause. The CLI prints its message and exits 2; the GUI
shows it in a dialog and keeps running. Messages say what went wrong and what to do."""

from __future__ import annotations


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
