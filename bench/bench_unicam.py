"""Benchmark UniCAM distilled + residual maps against two `grad-cam` GradCAM calls (CPU).

Run: .venv/bin/python bench/bench_unicam.py  (prints one table; figures go in bench/README.md)

(a) speed: a context batch of 16 images at 224 px, random-init ResNet-18 student and base
    (10 classes), target layer layer4.1. Ours: engine.cam.distilled_and_residual (one forward
    per model, a backward that stops at the target layer). Reference: pytorch_grad_cam GradCAM
    on the student and on the base (a forward and a full backward each). Best of a few repeats,
    both in this one process. Target: ours / reference <= 1.5.
(b) memory: FSS/RS for N = 256 at layer1..layer4 of three ResNet-18 at 224 px, peak resident
    memory of a fresh child process; target under 3 GiB.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from peak_memory import peak_rss_mib

from engine.cam import distilled_and_residual, unicam
from engine.models import build_model


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def speed(n: int, size: int, repeats: int) -> dict[str, float]:
    from pytorch_grad_cam import GradCAM

    torch.manual_seed(0)
    student, base = build_model("resnet18", 10), build_model("resnet18", 10)
    images = torch.randn(n, 3, size, size)
    labels = torch.arange(n) % 10

    def ours() -> None:
        distilled, residual = distilled_and_residual(student, base, images, labels, layer_student="layer4.1")
        assert distilled.maps.shape == (n, size, size) and residual.maps.shape == (n, size, size)

    def two_unicam_calls() -> None:
        unicam(student, base, "layer4.1", images, labels)
        unicam(base, student, "layer4.1", images, labels)

    def reference() -> None:
        for model in (student, base):
            with GradCAM(model=model, target_layers=[model.layer4[1]]) as cam:
                maps = cam(input_tensor=images, targets=None)
            assert maps.shape == (n, size, size)

    for fn in (ours, reference):  # warm-up: allocator, thread pool, first-call dispatch
        fn()
    times = {
        "distilled_and_residual": _best_of(ours, repeats),
        "unicam x2": _best_of(two_unicam_calls, repeats),
        "GradCAM x2 (grad-cam)": _best_of(reference, repeats),
    }
    for model in (student, base):  # grad-cam leaves .grad behind; ours must not add any
        model.zero_grad(set_to_none=True)
    ours()
    assert all(p.grad is None for model in (student, base) for p in model.parameters())
    return times


def _memory_child(n: int, size: int) -> None:
    """In a fresh process: FSS/RS of teacher, student and base at layer1..layer4; print peak RSS."""
    from engine.metrics import compute_metrics

    torch.manual_seed(0)
    models = {role: build_model("resnet18", 10) for role in ("teacher", "student", "base")}
    images = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))
    labels = np.arange(n) % 10
    taps = {role: ["layer1", "layer2", "layer3", "layer4"] for role in models}
    start = time.perf_counter()
    rows = compute_metrics(models, images, labels, taps, num_classes=10, batch_size=32)
    seconds = time.perf_counter() - start
    peak_mib = peak_rss_mib()
    print(f"{peak_mib:.1f} {seconds:.1f} {len(rows)}")


def memory_part(n: int = 256, size: int = 224) -> None:
    """FSS/RS for N = 256 at layer1..layer4 of ResNet-18 at 224 px: peak resident memory of a
    fresh child process (so part (a) does not count), target under 3 GiB."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n), str(size)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    peak, seconds, count = out.stdout.split()
    ok = "ok" if float(peak) < 3 * 1024 else "MISSED"
    print(
        f"(b) FSS/RS, 3 x ResNet-18, N={n} at {size} px, layer1..layer4 ({count} values, {seconds} s): "
        f"peak RSS {float(peak):.0f} MiB  target < 3072 MiB: {ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-speed", action="store_true", help="only measure (b)")
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(*args.memory_child)
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )
    print(f"(a) speed, CPU, ResNet-18 x 2, batch {args.n} at {args.size} px, best of {args.repeats}")
    if args.skip_speed:
        memory_part()
        return
    times = speed(args.n, args.size, args.repeats)
    for label, seconds in times.items():
        print(f"{label:<26}{seconds:>9.3f} s")
    ratio = times["distilled_and_residual"] / times["GradCAM x2 (grad-cam)"]
    ok = "ok" if ratio <= 1.5 else "MISSED"
    print(f"ratio distilled_and_residual / GradCAM x2: {ratio:.2f}  target <= 1.5: {ok}")
    memory_part()


if __name__ == "__main__":
    main()
