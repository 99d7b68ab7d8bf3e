"""An analysis report folder read back, torch-free: the window opens a report as it opens a run
folder, and ``kdlens-cli report`` renders a report's ``index.html`` again from what it holds.

The writer is :mod:`engine.reports.writer` (layout in its docstring); this module reads the same files:
``manifest.json``, ``maps/probe_NNN.npz`` (one image each, joined back into one probe frame),
``metrics.json``, and each evidence kind's table (``<kind>.csv`` rows and ``<kind>.json`` summary,
:mod:`engine.evidence.registry`), as the events an analysis streamed.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import KDLensError
from engine.events import Event, Evidence, JobFinished, MetricsRow, ProbeFrame
from engine.evidence.registry import evidence_kinds
from engine.frames import FrameFormatError, join_frames, read_probe_frame

__all__ = [
    "NotAReportError",
    "ReportContents",
    "ReportOutError",
    "check_report_out",
    "code_to_trust",
    "is_report",
    "read_manifest",
    "read_report",
    "report_events",
    "report_problem",
]

MANIFEST = "manifest.json"
MAPS = "maps"
REPORT_EPOCH = 0  # an analysis has one "epoch": the checkpoints as they are


class NotAReportError(KDLensError):
    """A folder that holds no KD Lens analysis report, or a damaged one."""


class ReportOutError(KDLensError):
    """A report's output folder that holds something else: a report never mixes with other files."""


def check_report_out(path: str | Path) -> bool:
    """Whether writing a report to ``path`` replaces a previous report (True) or makes a new folder
    (False: ``path`` is absent or empty). Anything else there is refused with
    :class:`ReportOutError`, so a report never overwrites or sits beside files it did not write."""
    from engine.atomic import writable_folder

    path = Path(path).expanduser()
    writable_folder(path, "the report folder")
    if not path.exists() or not any(path.iterdir()):
        return False
    if is_report(path):
        try:
            read_manifest(path)
            return True
        except NotAReportError:
            pass
    held = sorted(p.name for p in path.iterdir())
    shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
    raise ReportOutError(
        f"the report folder {path} is not empty and is not a KD Lens report (it holds {shown}); "
        "a report is written into a new or empty folder, or replaces a previous report whole. "
        "Give another --out folder."
    )


@dataclass(frozen=True)
class ReportContents:
    """Everything an analysis report holds, as the analysis streamed it."""

    folder: Path
    manifest: dict[str, Any]
    frame: ProbeFrame
    rows: list[MetricsRow]
    evidence: list[Evidence]


def is_report(path: str | Path) -> bool:
    """True when ``path`` looks like an analysis report (a manifest and a maps folder)."""
    path = Path(path)
    return (path / MANIFEST).is_file() and (path / MAPS).is_dir()


def report_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be opened as a report, or None (cheap: the manifest and a listing)."""
    path = Path(path)
    if not is_report(path):
        return (
            f"{path} is not a KD Lens analysis report (it has no manifest.json and maps/ folder); pick "
            "the folder that `kdlens-cli analyze --out` or the window's analysis wrote"
        )
    try:
        read_manifest(path)
    except NotAReportError as exc:
        return str(exc)
    if not _probe_paths(path):
        return f"{path / MAPS} holds no probe_NNN.npz maps; the report was not written completely"
    return None


def read_report(path: str | Path) -> ReportContents:
    """Read a whole report; a missing or damaged part is named in a :class:`NotAReportError`."""
    path = Path(path)
    problem = report_problem(path)
    if problem is not None:
        raise NotAReportError(problem)
    manifest = read_manifest(path)
    try:
        frame = join_frames([read_probe_frame(p) for p in _probe_paths(path)])
    except FrameFormatError as exc:
        raise NotAReportError(f"a probe map of the report is damaged: {exc}") from None
    return ReportContents(path, manifest, frame, _metrics(path), _evidence(path, manifest))


def report_events(path: str | Path) -> Iterator[Event]:
    """The report as the events its analysis streamed (frame, metrics rows, evidence tables), then
    one JobFinished whose ``out_dir`` is the folder. Everything is read before the first event."""
    report = read_report(path)
    yield report.frame
    yield from report.rows
    yield from report.evidence
    yield JobFinished(
        summary={"metrics": len(report.rows), "probe_images": len(report.frame.images)},
        out_dir=str(report.folder),
    )


def code_to_trust(manifest: dict[str, Any]) -> str | None:
    """What loading this report's models would run as code (its model file, or pickles it was
    allowed to open), or None. Such a report explains images only once the user trusts it."""
    config = manifest.get("config") or {}
    if config.get("model_file") and config.get("trust_code"):
        return f"the report's models are built by the Python file {config['model_file']}, which runs code"
    if config.get("trust"):
        return "the report's checkpoints were loaded as pickles that may run code (--trust)"
    return None


def _probe_paths(path: Path) -> list[Path]:
    return sorted((path / MAPS).glob("probe_*.npz"))


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotAReportError(f"cannot read {path} ({exc}); the report folder is damaged") from None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The report's ``manifest.json`` (a damaged or foreign one is a NotAReportError)."""
    path = Path(path)
    manifest = _json(path / MANIFEST)
    if not isinstance(manifest, dict) or "checkpoints" not in manifest:
        raise NotAReportError(
            f"{path / MANIFEST} is not an analysis manifest (no checkpoints); pick an analysis report folder"
        )
    return manifest


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _metrics(path: Path) -> list[MetricsRow]:
    if not (path / "metrics.json").is_file():
        return []
    rows = _json(path / "metrics.json").get("metrics", [])
    return [
        MetricsRow(
            REPORT_EPOCH,
            str(r["layer"]),
            str(r["metric"]),
            _number(r["mean"]),
            _number(r["p5"]),
            _number(r["p95"]),
            samples=int(r.get("subsample") or 0),
        )
        for r in rows
    ]


def _cell(text: str) -> Any:
    """A CSV cell as the value the table held: None for n/a, else an int, a float or the text."""
    if text in ("n/a", ""):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_rows(path: Path) -> tuple[dict[str, Any], ...]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return tuple({key: _cell(value) for key, value in row.items()} for row in csv.DictReader(handle))
    except (OSError, csv.Error) as exc:
        raise NotAReportError(f"cannot read {path} ({exc}); the report folder is damaged") from None


def _evidence(path: Path, manifest: dict[str, Any]) -> list[Evidence]:
    """Each registered kind's table the folder holds (or the note why it has none), in order."""
    notes = (manifest.get("evidence") or {}).get("notes", {})
    tables = []
    for kind in evidence_kinds():
        rows_file, summary_file = path / f"{kind.name}.csv", path / f"{kind.name}.json"
        if rows_file.is_file() and (summary_file.is_file() or not kind.summary_file):
            summary = _json(summary_file) if kind.summary_file else dict(kind.default_summary)
            tables.append(Evidence(REPORT_EPOCH, kind.name, summary, _csv_rows(rows_file)))
        elif kind.name in notes:
            tables.append(Evidence(REPORT_EPOCH, kind.name, {"note": notes[kind.name]}, ()))
    return tables
