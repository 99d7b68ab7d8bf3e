"""Benchmark engine.stats against the `dcor` package, and the chunked path's peak memory.

Run: .venv/bin/python bench/bench_stats.py  (prints one table; figures go in bench/README.md)

(a) n = 256 images, D = 25,088 features (a ResNet layer4 map at 224 px), float64: our dcor_u and
    partial_dcor against dcor's u_distance_correlation_sqr and partial_distance_correlation.
    Target: at least 150x faster, max abs difference <= 1e-8.
(b) peak resident memory of dcor_u through the chunked path at n = 1024, D = 200,704
    (a layer2 map at 224 px), features generated block by block so they never sit in memory.
    Target: under 2 GiB. Measured in a fresh child process so (a) does not count.
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

from engine import stats


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def speed(n: int, d: int, repeats: int) -> list[tuple[str, float, float, float, float]]:
    import dcor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    y = 0.5 * x[:, ::-1] + rng.normal(size=(n, d))
    z = np.tanh(x) + rng.normal(size=(n, d))
    tx, ty, tz = (torch.from_numpy(a) for a in (x, y, z))
    # Warm both sides up (dcor's numba kernels compile on first use; torch's BLAS spins up).
    small = rng.normal(size=(16, 8))
    dcor.u_distance_correlation_sqr(small, small[:, ::-1])
    dcor.partial_distance_correlation(small, small**2, small[:, ::-1])
    stats.partial_dcor(small, small**2, small[:, ::-1].copy())
    rows = []
    for label, ours, ref in (
        ("dcor_u", lambda: float(stats.dcor_u(tx, ty)), lambda: dcor.u_distance_correlation_sqr(x, y)),
        (
            "partial_dcor",
            lambda: float(stats.partial_dcor(tx, tz, ty)),
            lambda: dcor.partial_distance_correlation(x, z, y),
        ),
    ):
        t_ours, v_ours = _best_of(ours, repeats)
        t_ref, v_ref = _best_of(ref, 1)
        rows.append((label, t_ours, t_ref, t_ref / t_ours, abs(v_ours - float(v_ref))))
    return rows


def memory_child(n: int, d: int, block: int) -> None:
    """Runs in a fresh process: chunked dcor_u, then print peak RSS in MiB and the value."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(0)
    acc_x = stats.SquaredDistanceAccumulator(n, name="x")
    acc_y = stats.SquaredDistanceAccumulator(n, name="y")
    for start in range(0, d, block):
        width = min(block, d - start)
        bx = torch.randn(n, width, generator=gen, dtype=torch.float32)
        by = 0.3 * bx + torch.randn(n, width, generator=gen, dtype=torch.float32)
        acc_x.add(bx)
        acc_y.add(by)
    r = float(stats.dcor_u(acc_x.distances(), acc_y.distances()))
    peak_mib = peak_rss_mib()
    print(f"{peak_mib:.1f} {r:.6f}")


def memory(n: int, d: int, block: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n), str(d), str(block)],
        check=True,
        capture_output=True,
        text=True,
    )
    peak, value = (float(v) for v in out.stdout.split())
    return peak, value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--d", type=int, default=25_088)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mem-n", type=int, default=1024)
    parser.add_argument("--mem-d", type=int, default=200_704)
    parser.add_argument("--block", type=int, default=8192)
    parser.add_argument("--memory-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )
    print(f"(a) speed at n={args.n}, D={args.d}, float64 (ours: best of {args.repeats}; dcor: 1 run)")
    print(f"{'statistic':<14}{'ours s':>10}{'dcor s':>10}{'ratio':>10}{'max |diff|':>13}  target")
    for label, t_ours, t_ref, ratio, diff in speed(args.n, args.d, args.repeats):
        ok = "ok" if ratio >= 150 and diff <= 1e-8 else "MISSED"
        print(f"{label:<14}{t_ours:>10.4f}{t_ref:>10.3f}{ratio:>9.0f}x{diff:>13.2e}  >=150x, <=1e-8: {ok}")
    peak, value, seconds = memory(args.mem_n, args.mem_d, args.block)
    ok = "ok" if peak < 2048 else "MISSED"
    print(
        f"(b) chunked dcor_u at n={args.mem_n}, D={args.mem_d}, blocks of {args.block}: "
        f"peak RSS {peak:.0f} MiB ({seconds:.1f} s, R*={value:.4f})  target < 2048 MiB: {ok}"
    )


if __name__ == "__main__":
    main()
