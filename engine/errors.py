"""The base of every error a user can cause. The CLI prints its message and exits 2; the GUI
shows it in a dialog and keeps running. Messages say what went wrong and what to do."""

from __future__ import annotations


class KDLensError(Exception):
    """An error caused by input, configuration or files, with a message meant for the user."""
