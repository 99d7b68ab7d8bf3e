"""`kdlens-cli report`: write ``index.html`` into a finished training run's folder (or render an
analysis report's page again), to open in any browser, offline.

    kdlens-cli report RUN_DIR        the run's last probe maps, FSS/RS per layer and over epochs,
                                     its evidence with verdicts, its configuration's key facts
    kdlens-cli report REPORT_DIR     an analysis report's index.html, from the files it holds

Exit codes as in engine/cli/entry.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import KDLensError


class NotAFolderToReportError(KDLensError):
    """The folder is neither a run folder nor an analysis report."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write index.html for a run folder or an analysis report",
        description="Write a self-contained, offline index.html into a training run's folder (its last "
        "maps, FSS/RS with bands, evidence with verdicts) or an analysis report's folder.",
        epilog="example: kdlens-cli report runs/first  (then open runs/first/index.html)",
    )
    p.add_argument("folder", metavar="RUN_DIR", help="a run folder (train/demo --out) or an analysis report")
    p.set_defaults(run=run)


def write_index(folder: str | Path) -> Path:
    """``index.html`` for ``folder``, a run folder or an analysis report; returns its path."""
    from engine.reports.folder import is_report, read_report
    from engine.reports.html import write_analysis_html, write_run_html
    from engine.runs import RunDir

    folder = Path(folder)
    if is_report(folder):
        report = read_report(folder)
        return write_analysis_html(folder, report.frame, report.rows, report.evidence, report.manifest)
    if RunDir(folder).is_run():
        return write_run_html(folder)
    raise NotAFolderToReportError(
        f"{folder} is neither a KD Lens run folder (config.json, state.json) nor an analysis report "
        "(manifest.json, maps/); pick the folder that `kdlens-cli train/demo/analyze --out` wrote"
    )


def run(args: argparse.Namespace) -> int:
    written = write_index(args.folder)
    print(f"report written to {written}")
    return 0
