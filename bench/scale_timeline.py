"""What ``bench_scale.py`` reads off the analyze process's samples (every 20 ms: monotonic time,
RSS, GPU memory allocated, the process's CPU seconds): when each stage ran, laid end to end from
its first stage's progress line with the manifest's durations; the CPU seconds each stage took
(on a shared machine a steadier measure of its work than the wall time); and the FSS/RS stage's
working set against the memory bound of issue 18."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

__all__ = ["memory_summary", "stage_cpu", "stage_windows"]

STAGES = ("loading checkpoints", "class embeddings", "Grad-CAM and UniCAM", "FSS / RS", "evidence")
Sample = Sequence[float | None]  # (time, RSS MiB, GPU MiB or None, CPU seconds)


def stage_windows(first: float, timings: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """Stage (and evidence kind) -> (begin, end) on the monotonic clock; the kinds run in the
    manifest's order inside the evidence stage."""
    windows, at = {}, first
    for stage in STAGES:
        windows[stage] = (at, at + timings.get(stage, 0.0))
        at = windows[stage][1]
    at = windows["evidence"][0]
    for name, seconds in timings.items():
        if name.startswith("evidence: "):
            windows[name] = (at, at + seconds)
            at += seconds
    return windows


def _at(samples: Sequence[Sample], t: float, column: int) -> float:
    """The sampled value nearest ``t``."""
    times = [s[0] for s in samples]
    i = min(bisect_left(times, t), len(samples) - 1)
    if i > 0 and abs(times[i - 1] - t) < abs(times[i] - t):
        i -= 1
    return float(samples[i][column])


def stage_cpu(first: float, timings: Mapping[str, float], samples: Sequence[Sample]) -> dict[str, float]:
    """Stage -> the analyze process's CPU seconds (all its threads) while it ran."""
    if not samples:
        return {}
    return {
        name: _at(samples, end, 3) - _at(samples, begin, 3)
        for name, (begin, end) in stage_windows(first, timings).items()
    }


def memory_summary(first: float, timings: Mapping[str, float], record: Mapping, n: int, block: int) -> dict:
    """Peak RSS, the FSS/RS stage's working set (its peak RSS above the RSS it began with) and
    the bound the issue sets for it: one tap's N x N float64 matrix plus one block of ``block``
    float32 features of the N images (every tap here is wider than a block)."""
    samples = record["samples"]
    begin, end = stage_windows(first, timings)["FSS / RS"]
    before = [s[1] for s in samples if s[0] <= begin] or [samples[0][1]]
    during = [s[1] for s in samples if begin <= s[0] <= end] or [before[-1]]
    gpu = [s[2] for s in samples if s[2] is not None]
    return {
        "peak_rss_mib": record["peak_rss_mib"],
        "fss_rs_start_mib": before[-1],
        "fss_rs_working_mib": max(during) - before[-1],
        "bound_mib": (8 * n * n + 4 * n * block) / (1 << 20),
        "matrices_mib": 8 * n * n / (1 << 20),
        "gpu_peak_mib": record["gpu_peak_mib"],
        "gpu_sampled_mib": max(gpu) if gpu else None,
    }
