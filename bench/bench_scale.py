"""`analyze` at scale, stage by stage against each stage's floor (issue 18 item 7).

Run: .venv/bin/python bench/bench_scale.py [--n 1000 2000] [--device cpu|cuda] [--keep DIR]
(default: N = 1,000 and 2,000 on the CPU; 10,000 on a GPU, which it uses when there is one).

It writes CIFAR-100-format pickles (100 classes, enough test images for the largest N plus a
fifth, a class colour under the noise) and a KD zoo trio with seeded random weights in
RepDistiller's layout (teacher resnet32x4, student and base resnet8x4, ``{"model": state_dict}``),
then, per N, runs ``kdlens-cli analyze --metrics-n N`` with the default evidence in a child
process of its own: start-up is the time from the process's start to its first progress line
(the imports), each stage's time is the manifest's (``"timings"``), report writing is the rest
up to the process's exit. Right after each run, in this process, it times every stage's floor
on the same models, sets and device (:mod:`scale_floors`) and prints a table of times and
ratios. Peak memory: the child's own peak RSS (VmHWM), its RSS sampled every 20 ms to give the
FSS/RS stage's working set against one tap's N x N matrices plus one block of features, and on a
GPU ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROLES = (("teacher", "resnet32x4", 1), ("student", "resnet8x4", 2), ("base", "resnet8x4", 3))
CLASSES, ROOM, MIN_PER_CLASS = 100, 1.2, 24  # the per-class evidence scores 16 images of each class
SAMPLE_SECONDS = 0.02
FIRST_STAGE = b"loading checkpoints"  # its progress line: the engine is imported, the job has begun
QUICK = ["--faithfulness-n", "8", "--sanity-n", "8", "--agreement-n", "64", "--calibration-n", "64"]
QUICK += ["--classes-per-class", "4"]  # --quick: the script checked end to end, no figure worth keeping


# ---- the child: one analyze in this process, its memory sampled ------------------------------------
def analyze_child(record: Path, argv: list[str]) -> int:
    """``kdlens-cli analyze`` as its console script runs it (nothing heavy imported before), with
    (monotonic time, RSS MiB, GPU MiB allocated, process CPU seconds) sampled on a thread; written
    to ``record``."""
    samples: list[tuple[float, float, float | None, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            now = (time.monotonic(), _status_mib("VmRSS"), _gpu_mib(peak=False), time.process_time())
            samples.append(now)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    from engine.cli.entry import main

    try:
        return main(argv)
    finally:
        done.set()
        sampler.join()
        result = {
            "samples": samples,
            "peak_rss_mib": _status_mib("VmHWM"),
            "gpu_peak_mib": _gpu_mib(peak=True),
        }
        record.write_text(json.dumps(result))


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(f"{field}:"))


def _gpu_mib(peak: bool) -> float | None:
    """The GPU memory allocated now (or at its peak), once torch is imported and CUDA started."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)  # torch may be half imported
    try:
        if cuda is None or not cuda.is_initialized():
            return None
        return (cuda.max_memory_allocated() if peak else cuda.memory_allocated()) / (1 << 20)
    except (AttributeError, RuntimeError):
        return None


# ---- the inputs -----------------------------------------------------------------------------------
def write_cifar100(root: Path, per_class: int):
    """CIFAR-100's python files (``meta``, ``train``, ``test``): noise over a colour of each class.
    Returns the test images (n, 3, 32, 32) uint8 in file order."""
    import pickle

    import numpy as np

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(CLASSES, 3, 1, 1))
    test = None
    for split, count in (("train", 2), ("test", per_class)):
        labels = np.repeat(np.arange(CLASSES), count)
        noise = rng.integers(0, 256, size=(len(labels), 3, 32, 32))
        pixels = ((noise + 2 * colours[labels]) // 3).astype(np.uint8)
        batch = {"filenames": [], "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist()}
        batch["data"] = pixels.reshape(len(labels), 3072)
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))
        test = pixels
    meta = {"fine_label_names": [f"class{c:03d}" for c in range(CLASSES)], "coarse_label_names": []}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return test


def write_trio(root: Path) -> dict[str, Path]:
    """The three checkpoints as RepDistiller saves them, seeded random weights."""
    import torch

    from engine.models import build_model

    paths = {}
    for role, arch, seed in ROLES:
        torch.manual_seed(seed)
        paths[role] = root / f"{role}.pth"
        torch.save({"model": build_model(arch, CLASSES).state_dict()}, paths[role])
    return paths


# ---- one N ----------------------------------------------------------------------------------------
def run_analyze(n: int, paths: dict[str, Path], data: Path, out: Path, device: str, extra: list[str]) -> dict:
    """One ``analyze`` in a child process: its manifest, start-up, total and memory record."""
    record = out.with_suffix(".memory.json")
    flags = [a for role, path in paths.items() for a in (f"--{role}", str(path))]
    argv = ["analyze", *flags, "--arch-teacher", "resnet32x4", "--arch-student", "resnet8x4"]
    argv += ["--data", str(data), "--out", str(out), "--metrics-n", str(n), "--device", device, *extra]
    command = [sys.executable, str(Path(__file__).resolve()), "--analyze-child", str(record), "--", *argv]
    started = time.monotonic()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    first: list[float] = []  # the first progress line; the first stage's (the engine imported)
    tail = bytearray()
    while chunk := os.read(child.stderr.fileno(), 4096):
        tail = (tail + chunk)[-20000:]
        while len(first) < 1 + (FIRST_STAGE in tail):
            first.append(time.monotonic())
    code = child.wait()
    ended = time.monotonic()
    if code:
        sys.exit(f"analyze at N = {n} failed ({code}):\n{tail.decode(errors='replace')[-4000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    memory = json.loads(record.read_text())
    return {
        "manifest": manifest,
        "start": started,
        "first": first[1],
        "shown": first[0],
        "end": ended,
        "memory": memory,
    }


def floors_after(run: dict, test, paths: dict[str, Path], device_name: str) -> dict:
    """Every stage's floor on the run's own models and sets, timed here (seconds, wall and CPU)."""
    import torch
    from floors import forward_floor
    from scale_floors import stage_floors

    from engine.data.cifar import CIFAR100_STATS
    from engine.models import build_model

    device = torch.device(device_name)
    models = {}
    for role, arch, _seed in ROLES:
        model = build_model(arch, CLASSES)
        model.load_state_dict(torch.load(paths[role], map_location="cpu")["model"])
        models[role] = model.to(device).eval()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CIFAR100_STATS)
    inputs = ((torch.from_numpy(test).float() / 255.0 - mean) / std).to(device)
    forward_floor(models.values(), inputs[:64], device)  # warm-up: kernels, thread pools
    floors = stage_floors(run["manifest"], models, inputs, device)
    del models, inputs
    if device.type == "cuda":  # the next N's analyze gets the whole GPU
        torch.cuda.empty_cache()
    return {name: [clock.wall, clock.cpu] for name, clock in floors.items()}


def measure(n: int, paths, data: Path, test, root: Path, device: str, extra: list[str]) -> dict:
    """One N: the run, then its floors; every figure as plain numbers."""
    from scale_timeline import memory_summary, stage_cpu

    from engine.metrics_plan import COLUMN_BLOCK

    run = run_analyze(n, paths, data, root / f"report-{n}", device, extra)
    load = os.getloadavg()[0]
    floors = floors_after(run, test, paths, device)
    timings = dict(run["manifest"]["timings"])
    timings["first progress line"] = run["shown"] - run["start"]
    timings["start-up"] = run["first"] - run["start"]
    timings["report writing"] = run["end"] - run["first"] - timings["seconds to the report"]
    timings["whole analyze"] = run["end"] - run["start"]
    record = run["memory"]
    return {
        "n": n,
        "device": device + (" quick" if extra else ""),
        "load": [load, os.getloadavg()[0]],
        "timings": timings,
        "cpu": stage_cpu(run["first"], run["manifest"]["timings"], record["samples"]),
        "floors": floors,
        "memory": memory_summary(run["first"], run["manifest"]["timings"], record, n, COLUMN_BLOCK),
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--analyze-child":
        return analyze_child(Path(sys.argv[2]), sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, nargs="+", help="metrics-set sizes (default 1000 2000; 10000 on a GPU)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when there is one")
    parser.add_argument("--keep", metavar="DIR", help="write the data, checkpoints and reports here")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    parser.add_argument(
        "--quick", action="store_true", help="small evidence sets: checks the script in minutes (no figures)"
    )
    args = parser.parse_args()
    import tempfile

    import torch
    from scale_table import print_table

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sizes = args.n or ([10000] if device == "cuda" else [1000, 2000])
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    results = []
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.keep or temporary)
        root.mkdir(parents=True, exist_ok=True)
        per_class = max(MIN_PER_CLASS, math.ceil(max(sizes) * ROOM / CLASSES))
        test = write_cifar100(root / "cifar", per_class)
        paths = write_trio(root)
        for n in sizes:
            extra = QUICK if args.quick else []
            results.append(measure(n, paths, root / "cifar", test, root, device, extra))
            print(json.dumps(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
