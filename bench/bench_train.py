"""Overhead of the live explanations: the demo's whole KD phase with and without them.

Run: .venv/bin/python bench/bench_train.py  (prints one table; figures go in bench/README.md)

The ``kd-gain`` demo recipe at its own cadence: a probe frame every KD epoch, FSS/RS every
``metrics_every`` epochs and at the last, and the evidence (localisation, ROAD faithfulness,
sanity check) at the last. The teacher is cut to one step, as its phase is the same in both.
Each repeat trains base and student through every KD epoch with the explanations on, then off,
and times them from the teacher's checkpoint to the end of the run (steps, held-out accuracy,
probe frames, metrics, evidence, files), per epoch. Target: ratio <= 1.15.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from engine.events import CheckpointWritten
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.training.config import RoleConfig


def epoch_seconds(explain: bool, out: Path, threads: int) -> float:
    """Mean seconds per KD epoch over the demo's whole KD phase."""
    config = replace(demo_config("kd-gain"), threads=threads)
    config = replace(
        config,
        teacher=RoleConfig(config.teacher.arch, epochs=1, max_steps=1),
        probe=explain,
        metrics=explain,
        evidence=explain,
    )
    start = None
    for event in train_job(config, out):
        if isinstance(event, CheckpointWritten) and event.role == "teacher":  # the KD phase starts
            start = time.perf_counter()
    return (time.perf_counter() - start) / config.student.epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the demo's: 2)")
    args = parser.parse_args()
    with_explain, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            with_explain.append(epoch_seconds(True, Path(tmp) / f"on{repeat}", args.threads))
            without.append(epoch_seconds(False, Path(tmp) / f"off{repeat}", args.threads))
    on, off = statistics.median(with_explain), statistics.median(without)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}"
    )
    print(f"{'demo KD epoch (mean of the phase)':<34}{'median s':>10}{'runs':>30}")
    runs_on = str([round(v, 2) for v in with_explain])
    print(f"{'with frames + metrics + evidence':<34}{on:>10.2f}{runs_on:>30}")
    print(f"{'without':<34}{off:>10.2f}{str([round(v, 2) for v in without]):>30}")
    print(f"overhead ratio: {on / off:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
