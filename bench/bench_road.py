"""Benchmark ROAD batched on the device against the grad-cam package's serial loop.

Run: .venv/bin/python bench/bench_road.py  (prints one table; figures go in bench/README.md)

n images at `size` px, `maps` kinds of map (smooth, with ReLU zeros), k = 10, 20, ..., 90 %, three
small seeded CNNs (a trio) scoring every perturbed image. Ours: engine.evidence.road.road_scores
(every image and both removal orders imputed in a few batches: one sparse LU per batch on a CPU,
conjugate gradients on a GPU; --device). Reference: tests/road_reference.py, grad-cam's
RemoveMostRelevantFirst / RemoveLeastRelevantFirst with its NoisyLinearImputer, one scipy spsolve
per image on the host. Then the imputation alone, for the first map: grad-cam's imputer image by
image against engine.evidence.imputation.impute per k. Both in this one process after a warm-up;
the largest differences are printed too.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pytorch_grad_cam.metrics.road import NoisyLinearImputer  # noqa: E402
from road_reference import grad_cam_road  # noqa: E402

from engine.evidence.imputation import impute  # noqa: E402
from engine.evidence.road import TIE_BREAK, kept_pixels, road_scores  # noqa: E402

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
ROLES = ("teacher", "student", "base")


def _cnn(seed: int, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, classes),
    )  # fmt: skip


def _data(n: int, size: int, kinds: int) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.normal(0, 1, (n, 3, size, size)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, n))
    maps = []
    for _ in range(kinds):  # CAM-like: a coarse grid upsampled, ReLU zeros
        coarse = torch.from_numpy(rng.random((n, 1, 4, 4)).astype(np.float32))
        smooth = nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[:, 0].numpy()
        maps.append(np.maximum(smooth - 0.3, 0.0))
    return images, labels, maps


def _timed(score, models, images, labels, maps) -> tuple[float, list[dict[str, np.ndarray]]]:
    start = time.perf_counter()
    out = [score(models, images, labels, m, percentiles=PERCENTILES, seed=0) for m in maps]
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def _imputation(images: torch.Tensor, cams: np.ndarray, device: str) -> tuple[float, float, float]:
    """Seconds of grad-cam's imputer (image by image) and of ours (per k, both orders in one
    batch) for every k, and the largest difference of the imputed images."""
    keeps = [np.concatenate([kept_pixels(cams, k), kept_pixels(1 - cams, k)]) for k in PERCENTILES]
    sources = torch.cat([images, images])
    torch.manual_seed(0)
    start = time.perf_counter()
    reference = [
        torch.stack(
            [NoisyLinearImputer()(x, torch.from_numpy(m).float()) for x, m in zip(sources, keep, strict=True)]
        )
        for keep in keeps
    ]
    t_ref = time.perf_counter() - start
    torch.manual_seed(0)
    start = time.perf_counter()
    ours = [impute(sources.to(device), torch.from_numpy(keep).to(device)).cpu() for keep in keeps]
    t_ours = time.perf_counter() - start
    return t_ref, t_ours, max(float((a - b).abs().max()) for a, b in zip(ours, reference, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--maps", type=int, default=6)
    parser.add_argument("--device", default="cpu", help="where ours runs (the reference: the CPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )
    models = {role: _cnn(i) for i, role in enumerate(ROLES)}
    on_device = {role: _cnn(i).to(args.device) for i, role in enumerate(ROLES)}
    images, labels, maps = _data(args.n, args.size, args.maps)
    small = _data(4, args.size, 1)
    _timed(road_scores, on_device, *small)  # warm-up: kernels, allocator
    _timed(grad_cam_road, models, *small)
    print(
        f"ROAD of {args.maps} maps x {len(PERCENTILES)} k x 2 orders, {args.n} images at {args.size} px, "
        f"3 CNNs; ours on {args.device}"
    )
    t_ref, ref = _timed(grad_cam_road, models, images, labels, maps)
    t_ours, ours = _timed(road_scores, on_device, images.to(args.device), labels, maps)
    diff = max(float(np.nanmax(np.abs(a[r] - b[r]))) for a, b in zip(ours, ref, strict=True) for r in ROLES)
    print(f"{'grad-cam, serial spsolve':<28}{t_ref:>9.2f} s")
    print(f"{'road_scores, batched':<28}{t_ours:>9.2f} s")
    print(f"speed-up: {t_ref / t_ours:.1f}x   largest score difference: {diff:.1e}")
    tie_break = TIE_BREAK * np.random.default_rng(1).random(maps[0].shape)  # as road_scores does
    cams = (maps[0] + tie_break).astype(np.float32)
    t_ref, t_ours, diff = _imputation(images, cams, args.device)
    print(f"imputation alone, 1 map x {len(PERCENTILES)} k x 2 orders x {args.n} images:")
    print(f"{'grad-cam NoisyLinearImputer':<28}{t_ref:>9.2f} s")
    print(f"{'impute, batched':<28}{t_ours:>9.2f} s")
    print(f"speed-up: {t_ref / t_ours:.1f}x   largest pixel difference: {diff:.1e}")


if __name__ == "__main__":
    main()
