"""Files shipped with the app (icons), found through `importlib.resources`.

The files live next to this module, so the same lookup works from a source checkout, an
installed wheel and the PyInstaller bundle (whose spec collects them as data): no code builds
paths from `__file__` or `sys._MEIPASS`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from engine.errors import KDLensError

APP_ICON = "kdlens.svg"


class MissingResourceError(KDLensError):
    """A file the app ships with is not where the install or bundle should have put it."""


def resource_names() -> list[str]:
    """Names of the shipped files (not the Python modules), sorted."""
    folder = resources.files(__name__)
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.endswith((".py", ".pyc"))
    )


def resource_bytes(name: str) -> bytes:
    """The content of one shipped file."""
    entry = resources.files(__name__) / name
    if not entry.is_file():
        raise MissingResourceError(
            f"The app file {name!r} is missing from this installation; reinstall KD Lens "
            "(or rebuild the bundle with `make bundle`)."
        )
    return entry.read_bytes()


def resource_path(name: str) -> Path:
    """A real file path for one shipped file, for APIs that want a path (Qt icons).

    Source checkouts, wheels and one-folder bundles keep the files on disk; a zipped install
    does not, and is reported rather than silently extracted.
    """
    resource_bytes(name)  # raises MissingResourceError with a helpful message
    entry = resources.files(__name__) / name
    path = Path(str(entry))
    if not path.is_file():
        raise MissingResourceError(
            f"The app file {name!r} is inside an archive, not on disk; install KD Lens unzipped."
        )
    return path
