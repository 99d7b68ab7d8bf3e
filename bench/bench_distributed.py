"""FSS/RS of a wide layer over N = 1024 images with 1 and with 2 processes (torch.distributed, Gloo on
CPUs), and each rank's peak memory.

Run: .venv/bin/python bench/bench_distributed.py  (prints one table; figures go in bench/README.md)

Two models (teacher and student roles) share one wide tap: a 3x3 convolution with 64 channels at
64 x 64 px, i.e. D = 262,144 features per image, so the N x N distances cost N^2 x D per model.
Each configuration runs as ``python -m torch.distributed.run --standalone --nproc-per-node P``
(P = 1 takes the one-process path), every rank with cores / P threads, so both use the same
cores. The timed part is :func:`engine.metrics.compute_metrics` (feature passes, distance
matrices, FSS(S,T), RS, 10 subsamples); peak memory is each rank's own VmHWM. The 2-process
values are checked against the 1-process ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from peak_memory import peak_rss_mib
from torch import nn

from engine import metrics

WIDTH, SIDE = 64, 64


def wide_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, WIDTH, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(WIDTH, 10),
    ).eval()


def worker(n: int, out: str) -> None:
    from engine.distributed import joined

    world = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    models = {"teacher": wide_model(1), "student": wide_model(2)}
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, SIDE, SIDE, generator=generator)
    labels = np.arange(n) % 10
    taps = {"teacher": ["1"], "student": ["1"]}  # the ReLU after the wide convolution
    with joined() as group:
        started = time.perf_counter()
        rows = metrics.compute_metrics(
            models, images, labels, taps, num_classes=10, repeats=10, batch_size=64, group=group
        )
        seconds = time.perf_counter() - started
        rank = group.rank
        record = {
            "rank": rank,
            "world": world,
            "seconds": seconds,
            "peak_mib": peak_rss_mib(),
            "rows": {r.metric: r.mean for r in rows},
        }
        Path(f"{out}.{rank}").write_text(json.dumps(record))


def run(processes: int, n: int, folder: Path) -> list[dict]:
    out = folder / f"p{processes}"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
        __file__, "--worker", "--images", str(n), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return [json.loads((folder / f"p{processes}.{rank}").read_text()) for rank in range(processes)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args.images, args.out)
        return
    import tempfile

    features = WIDTH * SIDE * SIDE
    print(
        f"FSS/RS of 2 models, N = {args.images} images, D = {features:,} features per image "
        f"(features of one model: {args.images * features * 4 / 2**30:.2f} GiB float32), column block "
        f"{metrics.COLUMN_BLOCK:,}"
    )
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}, Gloo on the CPU")
    print("| processes | wall time of compute_metrics | peak RSS per rank | max |difference| to 1 process |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        one = run(1, args.images, Path(folder))
        two = run(2, args.images, Path(folder))
    reference = one[0]["rows"]
    for records in (one, two):
        rows = records[0]["rows"]
        diff = max(abs(rows[k] - reference[k]) for k in reference)
        seconds = max(r["seconds"] for r in records)
        memory = ", ".join(f"rank {r['rank']}: {r['peak_mib']:.0f} MiB" for r in records)
        label = "1 (one-process path)" if len(records) == 1 else f"{len(records)} (Gloo)"
        print(f"| {label} | {seconds:.1f} s | {memory} | {diff:.1e} |")


if __name__ == "__main__":
    main()
