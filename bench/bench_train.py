"""Overhead of the live explanations: one demo KD epoch with and without probe frames + metrics.

Run: .venv/bin/python bench/bench_train.py  (prints one table; figures go in bench/README.md)

The ``kd-gain`` demo recipe (600 student images, small CNNs at 32 px, probe set 16, metrics set
at the demo's size, at the demo's default frequency: a probe frame every epoch, FSS/RS every
``metrics_every`` epochs). The teacher is cut to one step, as its phase is the same in both.
Each repeat trains base and student for ``metrics_every`` epochs with the explanations on, then
off, and times them from the teacher's checkpoint to the last one (steps, held-out accuracy, probe
frames, one metrics pass, files), per epoch. Target: ratio <= 1.15.
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
    """Mean seconds per KD epoch over one metrics period of the demo."""
    config = replace(demo_config("kd-gain"), threads=threads)
    epoch = config.metrics_every
    config = replace(
        config,
        teacher=RoleConfig(config.teacher.arch, epochs=1, max_steps=1),
        base=replace(config.base, epochs=epoch),
        student=replace(config.student, epochs=epoch),
        probe=explain,
        metrics=explain,
    )
    start = end = None
    for event in train_job(config, out):
        if isinstance(event, CheckpointWritten) and event.role == "teacher":  # the KD phase starts
            start = time.perf_counter()
        if isinstance(event, CheckpointWritten) and event.role == "student" and event.epoch == epoch:
            end = time.perf_counter()
    return (end - start) / epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
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
    print(f"{'demo KD epoch (mean of a period)':<34}{'median s':>10}{'runs':>30}")
    print(f"{'with probe frame + metrics':<34}{on:>10.2f}{str([round(v, 2) for v in with_explain]):>30}")
    print(f"{'without':<34}{off:>10.2f}{str([round(v, 2) for v in without]):>30}")
    print(f"overhead ratio: {on / off:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
