"""Issue 11 item 1: a tiny run killed at every file operation resumes to exactly what an
uninterrupted run writes, and so does a resume killed at each of its own file operations.

The work is done by ``tests/fault_driver.py`` in two child processes (each takes every other
kill point); this test reads their JSON lines and asserts that every point was checked and
none had a difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("fault_driver.py")
WORKERS = 2


def _run_workers(work: Path) -> list[tuple[list[dict], str]]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, str(DRIVER), str(work / f"worker_{w}"), str(w), str(WORKERS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=DRIVER.parent.parent,
        )
        for w in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"fault driver failed ({proc.returncode}):\n{err[-4000:]}"
        results.append(([json.loads(line) for line in out.splitlines() if line.strip()], err))
    return results


@pytest.mark.slow
def test_kill_at_every_file_operation_resumes_bit_for_bit(tmp_path):
    results = _run_workers(tmp_path)
    totals = {row["total"] for lines, _ in results for row in lines if "total" in row}
    resume_totals = {row["resume_total"] for lines, _ in results for row in lines if "resume_total" in row}
    assert len(totals) == 1 and len(resume_totals) == 1, (totals, resume_totals)
    total, resume_total = totals.pop(), resume_totals.pop()
    # a tiny run still has dozens of file operations; a resume has several of its own
    assert total >= 50 and resume_total >= 10, (total, resume_total)

    points = [row for lines, _ in results for row in lines if "point" in row]
    run_points = [p for p in points if not p["point"].startswith("resume ")]
    resume_points = [p for p in points if p["point"].startswith("resume ")]
    assert len(run_points) == total
    assert len(resume_points) == resume_total
    assert len({p["point"] for p in points}) == len(points), "a point was checked twice"
    failed = {p["point"]: p["problems"] for p in points if p["problems"]}
    assert not failed, json.dumps(failed, indent=1)
