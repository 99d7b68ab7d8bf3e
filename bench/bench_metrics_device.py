"""FSS/RS stage by stage on the models' device (issue 18 item 2): a KD zoo trio at 32 px, 100 classes.

Run: .venv/bin/python bench/bench_metrics_device.py [--n 1000 2000] [--device cpu|cuda] [--compare]
(default: N = 1,000 and 2,000, plus 10,000 when a GPU is there; the GPU when there is one).

Teacher resnet32x4, student and base resnet8x4 (seeded random weights), their metric taps
layer1..layer3 (D = 65,536 / 32,768 / 16,384 features per image), N random images, 10
subsamples of 3N/4 (what `analyze` computes). Each N runs in a fresh child process and times,
in one run, the three stages of :func:`engine.metrics.compute_metrics` on the plan
:func:`engine.metrics_plan.metrics_plan` chose (forward passes with the taps' features kept;
the float64 distances; the statistics) and their floors: the forward passes timed bare (no
hooks) and the Gram products X @ X.T of every tap in float64 on that device (random X of the
taps' shapes; a dense product costs the same whatever the values). Peak memory: the GPU's
peak allocation during the three stages, or the child's VmHWM on the CPU, each above what
the process held before them, beside the plan's estimate. ``--compare`` also runs the host
path (N <= 2,000) and prints the largest difference of any row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from floors import Clock, forward_floor, gram_floor
from peak_memory import peak_rss_mib

from engine import metrics, stats
from engine.data.sampling import balanced_subsamples
from engine.metric_kinds import metric_rows
from engine.metrics_plan import HOST, MetricsPlan, device_needs, tap_widths
from engine.models import build_model

ROLES = (("teacher", "resnet32x4", 1), ("student", "resnet8x4", 2), ("base", "resnet8x4", 3))
TAPS = ["layer1", "layer2", "layer3"]
CLASSES, BATCH, REPEATS = 100, 64, 10
COMPARE_UP_TO = 2000  # the host path of a larger set takes minutes even on 16 cores


def trio(device: torch.device) -> dict[str, torch.nn.Module]:
    models = {}
    for role, arch, seed in ROLES:
        torch.manual_seed(seed)
        models[role] = build_model(arch, CLASSES).to(device).eval()
    return models


def stages(models, images, labels, plan: MetricsPlan) -> tuple[dict[str, Clock], list]:
    """The three stages of compute_metrics, timed one by one (the same calls it makes)."""
    clocks = {stage: Clock(plan.sweep) for stage in ("forward", "distances", "statistics")}
    counts, distances = [len(images)], {}
    for role, model in models.items():
        with clocks["forward"]:
            features = metrics.tap_features(model, images, TAPS, batch_size=BATCH, where=plan.sweep)
        with clocks["distances"]:
            distances[role] = metrics.folded_distances(features, counts, plan)
    with clocks["statistics"]:
        where, size = plan.statistics, 3 * len(images) // 4
        label_distances = stats.pairwise_distances(
            torch.eye(CLASSES, dtype=torch.float64, device=where)[labels]
        )
        draws = [torch.as_tensor(ix, device=where) for ix in balanced_subsamples(labels, size, REPEATS, 0)]
        roles = list(models)
        taps = {role: TAPS for role in roles}
        rows = metric_rows(distances, label_distances, draws, taps, roles, fss_v=False, epoch=0, size=size)
    return clocks, rows


def resident_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def child(n: int, device_name: str, compare: bool) -> dict:
    """One N in this process: stages, floors, peak memory (and the host path's difference)."""
    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device(device_name)
    models = trio(device)
    images = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    labels = np.arange(n) % CLASSES
    taps = {role: TAPS for role in models}
    plan = metrics.metrics_plan(models, images, taps)
    forward_floor(models.values(), images[:BATCH], device)  # warm-up: kernels, cuDNN, thread pools
    gram_floor([64], 64, device)
    base = torch.cuda.memory_allocated(device) / (1 << 20) if device.type == "cuda" else resident_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, rows = stages(models, images, labels, plan)
    peak = torch.cuda.max_memory_allocated(device) / (1 << 20) if device.type == "cuda" else peak_rss_mib()
    widths = {role: tap_widths(model, images, TAPS) for role, model in models.items()}
    needs = plan.needs or device_needs(widths, n, n, 3 * n // 4, fss_v=False, block=metrics.COLUMN_BLOCK)
    flat = [w for by_tap in widths.values() for w in by_tap.values()]
    floors = {"forward": forward_floor(models.values(), images, device), "gram": gram_floor(flat, n, device)}
    result = {"n": n, "device": device_name, "plan": plan.name, "load": os.getloadavg()[0]}
    result |= {
        key: {k: [c.wall, c.cpu] for k, c in clocks.items()}
        for key, clocks in (("times", times), ("floors", floors))
    }
    result |= {"peak_mib": peak - base, "estimate_mib": needs.peak(keep=plan.level == 0) / (1 << 20)}
    if compare and n <= COMPARE_UP_TO:
        host_path = MetricsPlan(HOST, HOST, level=2)
        host = metrics.compute_metrics(models, images, labels, taps, num_classes=CLASSES, plan=host_path)
        pairs = [
            (getattr(a, f), getattr(b, f))
            for a, b in zip(rows, host, strict=True)
            for f in ("mean", "low", "high")
        ]
        result["max_difference"] = float(np.nanmax([abs(a - b) for a, b in pairs]))
    return result


def table(results: list[dict]) -> None:
    """One line per N: each stage's wall time and ratio to its floor (and, on the CPU, the ratio
    of CPU seconds), the whole against both floors."""
    heads = ("N", "device (plan)", "forward passes / bare", "distances / Gram floor", "statistics")
    print("| " + " | ".join((*heads, "FSS/RS / floor", "peak memory (estimate)")) + " |")
    print("|" + " --- |" * 7)
    for r in results:
        t, f = r["times"], r["floors"]
        total = [sum(v[i] for v in t.values()) for i in (0, 1)]
        floor = [f["forward"][i] + f["gram"][i] for i in (0, 1)]
        cells = [f"{r['n']:,}", f"{r['device']} ({r['plan']})"]
        for spent, bare in ((t["forward"], f["forward"]), (t["distances"], f["gram"]), (total, floor)):
            cells.append(
                f"{spent[0]:.2f} s / {bare[0]:.2f} s = {spent[0] / bare[0]:.2f}x" + _cpu(r, spent, bare)
            )
        cells.insert(4, f"{t['statistics'][0]:.2f} s")
        cells.append(f"{r['peak_mib']:.0f} MiB ({r['estimate_mib']:.0f})")
        print("| " + " | ".join(cells) + " |")
    print("load average (1 min) after each N: " + ", ".join(f"{r['load']:.1f}" for r in results))
    for r in results:
        if "max_difference" in r:
            print(
                f"N = {r['n']:,}: largest difference of a row, device vs host path: {r['max_difference']:.1e}"
            )


def _cpu(result: dict, spent: list[float], bare: list[float]) -> str:
    return f" (CPU s {spent[1] / bare[1]:.2f}x)" if result["device"] == "cpu" else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, nargs="+", help="metrics-set sizes (default 1000 2000, + 10000 on a GPU)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when there is one")
    parser.add_argument(
        "--compare", action="store_true", help="also run the host path (N <= 2000); print the difference"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.child:
        print(json.dumps(child(args.child, device, args.compare)))
        return
    sizes = args.n or ([1000, 2000, 10000] if device == "cuda" else [1000, 2000])
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    results = []
    for n in sizes:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--device", device]
        done = subprocess.run(
            command + (["--compare"] if args.compare else []), capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"N = {n} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    table(results)


if __name__ == "__main__":
    main()
