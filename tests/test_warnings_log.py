"""Warnings raised while a job runs reach the user as the job's own log lines, once each, in words."""

from __future__ import annotations

import warnings

from engine.events import LogLine, Progress
from engine.jobs.driver import drive
from engine.jobs.warnings_log import warnings_as_log


class DecompressionBombWarning(RuntimeWarning):
    """Stands in for PIL's warning of the same name (matched by its name)."""


def _job(_stop=None):
    yield Progress("analysis", 0, 0, 2, 0, 2)
    for name in ("a.png", "b.png"):
        warnings.warn(f"skipped 1 unreadable image file(s), e.g. {name}", UserWarning, stacklevel=1)
    warnings.warn("skipped 1 unreadable image file(s), e.g. a.png", UserWarning, stacklevel=1)
    warnings.warn("Image size (200000000 pixels) exceeds limit of 178956970 pixels, could be decompression "
                  "bomb DOS attack.", DecompressionBombWarning, stacklevel=1)  # fmt: skip
    for code in (23383, 29399):
        warnings.warn(
            f"Glyph {code} (\\N{{CJK}}) missing from font(s) DejaVu Sans.", UserWarning, stacklevel=1
        )
    warnings.warn("torch.jit.script is deprecated", FutureWarning, stacklevel=1)
    yield Progress("analysis", 0, 1, 2, 1, 2)


def test_each_warning_becomes_one_plain_log_line_and_deprecations_stay_out():
    events = list(warnings_as_log(_job()))
    lines = [e.message for e in events if isinstance(e, LogLine)]
    assert all(e.level == "warning" for e in events if isinstance(e, LogLine))
    assert lines[:2] == [
        "skipped 1 unreadable image file(s), e.g. a.png",
        "skipped 1 unreadable image file(s), e.g. b.png",
    ]
    assert any("200,000,000 pixels" in line and "reduced while loading" in line for line in lines)
    assert sum("cannot be drawn" in line for line in lines) == 1  # two glyphs, one line
    assert not any("deprecated" in line for line in lines) and len(lines) == 4
    assert isinstance(events[0], Progress) and isinstance(events[-1], Progress)


def test_the_driver_passes_them_on_as_log_lines():
    seen = []
    assert drive(_job, None, seen.append) is None
    assert sum(isinstance(e, LogLine) for e in seen) == 4
