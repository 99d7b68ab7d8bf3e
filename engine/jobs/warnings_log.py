"""Python warnings raised while a job runs, as the job's own log lines: said once, in words a user
reads (the window's log and the command line's), never as a raw ``file:line: Category`` trace.

Library deprecation notices are for developers and are left out. A few known warnings get their
plain wording (a decompression-bomb sized image, characters a figure's font cannot draw); any
other warning keeps its message.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from engine.events import LogLine

__all__ = ["plain_warning", "warnings_as_log"]

DEVELOPERS_ONLY = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_DONE = object()


def plain_warning(message: warnings.WarningMessage) -> tuple[str, str] | None:
    """(key, text) of a warning for the log (the key says when two are the same), or None."""
    if issubclass(message.category, DEVELOPERS_ONLY):
        return None
    text = str(message.message)
    if message.category.__name__ == "DecompressionBombWarning":
        pixels = re.search(r"\((\d+) pixels\)", text)
        size = f" of {int(pixels.group(1)):,} pixels" if pixels else ""
        return (
            "bomb",
            f"a very large image{size} was read; it is reduced while loading (check it is the right file)",
        )
    if re.match(r"Glyph \d+ .* missing from (current )?font", text):
        return "glyph", (
            "some characters of the class names cannot be drawn with the installed fonts: the report's "
            "figures show boxes for them, its tables show them as they are"
        )
    return text, text


def warnings_as_log(events: Iterable[Any]) -> Iterator[Any]:
    """``events`` as they come, with a LogLine (level "warning") for each new warning raised while
    the job computed the next event; each warning is said once per job."""
    said: set[str] = set()
    iterator = iter(events)
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            event = next(iterator, _DONE)
        for message in caught:
            plain = plain_warning(message)
            if plain is not None and plain[0] not in said:
                said.add(plain[0])
                yield LogLine(plain[1], "warning")
        if event is _DONE:
            return
        yield event
