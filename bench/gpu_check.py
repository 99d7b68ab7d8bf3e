"""The CUDA path end to end, on a GPU machine: one short script (about a minute or two).

Run: .venv/bin/python bench/gpu_check.py                 (on a machine with a CUDA GPU)
     .venv/bin/python bench/gpu_check.py --device cpu    (a dry run of the whole script on the CPU)

What it checks, with a tiny seeded teacher/student/base (large_cnn -> small_cnn, 4 shape classes,
32 px) that it makes itself, nothing downloaded:

1. ``analyze`` on the CPU (the reference), then on the device twice: with the default autocast
   (bfloat16 forward passes where the GPU has it) and with ``KDLENS_AUTOCAST=0`` (float32).
   Every map (Grad-CAM of each model, UniCAM's distilled and residual maps) is compared with the
   CPU's per image (mean absolute difference and correlation), every FSS/RS value (mean and 5-95 %
   band) to a tolerance, and the evidence (localisation shares, sanity correlations) as well;
   ROAD is checked to be finite (its noisy imputation is not bit-stable across devices).
2. A few training steps on the device (the quick demo recipe): finite losses, a probe frame with
   finite maps, FSS/RS rows, and checkpoints that load back on the CPU.
3. Timings of each part, CPU against the device.

Exit status: 0 when every check passes, or when there is no CUDA GPU (it says so and checks
nothing); 1 when a check fails (each failure is printed). ``--device cpu`` runs the device half on
the CPU as well, so the script's own code is exercised where no GPU is (figures then match
exactly; it proves nothing about a GPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script from the repository root or from bench/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.checkpoints import ModelCard, load_checkpoint, save_checkpoint  # noqa: E402
from engine.data.shapes import SHAPE_NAMES  # noqa: E402
from engine.devices import describe  # noqa: E402
from engine.events import CheckpointWritten, EpochSummary, MetricsRow, ProbeFrame, Progress  # noqa: E402
from engine.jobs.analyze import AnalyzeConfig, analyze_job  # noqa: E402
from engine.jobs.demo import demo_config  # noqa: E402
from engine.jobs.train import train_job  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.reports.folder import ReportContents, read_report  # noqa: E402
from engine.vocab import MAP_KEYS  # noqa: E402

CLASSES = tuple(SHAPE_NAMES[:4])
ARCHS = {"teacher": "large_cnn", "student": "small_cnn", "base": "small_cnn"}


@dataclass
class Checks:
    """Failures found so far, and the timings, printed at the end."""

    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)
            print(f"  MISMATCH {what}")


def make_checkpoints(root: Path) -> dict[str, Path]:
    paths = {}
    for seed, (role, arch) in enumerate(ARCHS.items(), start=1):
        torch.manual_seed(seed)
        card = ModelCard(arch=arch, num_classes=len(CLASSES), class_names=CLASSES, input_size=32)
        paths[role] = save_checkpoint(build_model(arch, len(CLASSES)), root / f"{role}.safetensors", card)
    return paths


def analyse(
    paths: dict[str, Path], out: Path, device: str, args, autocast: bool, checks: Checks
) -> ReportContents:
    """One analysis into ``out``, timed; ``autocast`` False sets KDLENS_AUTOCAST=0 for it."""
    config = AnalyzeConfig(
        **{role: str(path) for role, path in paths.items()},
        data="shapes",
        out=str(out),
        probe=args.probe,
        metrics_n=args.metrics_n,
        repeats=args.repeats,
        seed=0,
        device=device,
        evidence_options={"localisation_n": args.metrics_n, "faithfulness_n": args.faithfulness_n},
    )
    before = os.environ.get("KDLENS_AUTOCAST")
    os.environ["KDLENS_AUTOCAST"] = "1" if autocast else "0"
    try:
        start = time.perf_counter()
        for _event in analyze_job(config):
            pass
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        what = f"analyze into {out.name} on {device}{'' if autocast else ', autocast off'}"
        checks.timings[what] = time.perf_counter() - start
    finally:
        if before is None:
            os.environ.pop("KDLENS_AUTOCAST", None)
        else:
            os.environ["KDLENS_AUTOCAST"] = before
    return read_report(out)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return 1.0 if scale == 0.0 else float((a * b).sum() / scale)


def compare_reports(cpu: ReportContents, other: ReportContents, name: str, tol: dict, checks: Checks) -> None:
    """Maps per image, FSS/RS with their bands, localisation and sanity rows: ``other`` against
    the CPU's, to the tolerances in ``tol`` (keys map_mad, map_corr, metric)."""
    print(f"{name} against the CPU:")
    checks.expect(
        list(cpu.manifest["probe_indices"]) == list(other.manifest["probe_indices"]),
        f"{name}: the probe images differ (the sets must not depend on the device)",
    )
    for key in MAP_KEYS:
        a, b = cpu.frame.maps[key].astype(np.float64), other.frame.maps[key].astype(np.float64)
        checks.expect(bool(np.isfinite(b).all()), f"{name}: {key} has non-finite values")
        mad = float(np.abs(a - b).mean(axis=(1, 2)).max())
        corr = min(_correlation(x, y) for x, y in zip(a, b, strict=True))
        print(f"  map {key:16s} worst image: mean |diff| {mad:.4f}, correlation {corr:.4f}")
        checks.expect(mad <= tol["map_mad"], f"{name}: {key} mean |diff| {mad:.4f} > {tol['map_mad']}")
        checks.expect(corr >= tol["map_corr"], f"{name}: {key} correlation {corr:.4f} < {tol['map_corr']}")
    reference = {(r.metric, r.layer): r for r in cpu.rows}
    shown = {(r.metric, r.layer): r for r in other.rows}
    checks.expect(
        set(reference) == set(shown), f"{name}: other metric rows ({len(shown)} vs {len(reference)})"
    )
    worst = 0.0
    for key, row in reference.items():
        if key not in shown:
            continue
        for part in ("mean", "low", "high"):
            x, y = getattr(row, part), getattr(shown[key], part)
            if np.isfinite(x) or np.isfinite(y):
                diff = abs(x - y) if np.isfinite(x) and np.isfinite(y) else np.inf
                worst = max(worst, diff)
                checks.expect(
                    diff <= tol["metric"], f"{name}: {key[0]} at {key[1]} {part}: {x:.4f} vs {y:.4f}"
                )
    print(f"  FSS/RS ({len(reference)} values with their bands): largest |diff| {worst:.4f}")
    tables = {t.kind: t for t in cpu.evidence}
    for table in other.evidence:
        if table.kind == "faithfulness":
            scores = [r["score"] for r in table.rows if r["score"] is not None]
            checks.expect(bool(scores) and bool(np.isfinite(scores).all()), f"{name}: ROAD scores not finite")
            continue
        column = {"localisation": "mean", "sanity": "spearman"}.get(table.kind)
        if column is None or table.kind not in tables:
            continue
        a = np.array([np.nan if r[column] is None else r[column] for r in tables[table.kind].rows], float)
        b = np.array([np.nan if r[column] is None else r[column] for r in table.rows], float)
        diff = float(np.nanmax(np.abs(a - b))) if a.shape == b.shape and a.size else np.inf
        print(f"  {table.kind} ({a.size} rows): largest |diff| {diff:.4f}")
        checks.expect(diff <= tol["evidence"], f"{name}: {table.kind} differs by {diff:.4f}")


def train_steps(device: str, out: Path, checks: Checks) -> None:
    """The quick demo recipe on ``device``: a few steps per role, probe maps and FSS/RS."""
    print(f"training a few steps on {device}:")
    config = replace(
        demo_config("kd-gain", quick=True), device=device, evidence=False, metrics_size=64, metrics_repeats=2
    )
    losses, frames, rows, written = [], [], [], []
    start = time.perf_counter()
    for event in train_job(config, out):
        if isinstance(event, Progress) and event.loss is not None:
            losses.append(event.loss)
        elif isinstance(event, ProbeFrame) and event.epoch > 0:
            frames.append(event)
        elif isinstance(event, MetricsRow):
            rows.append(event)
        elif isinstance(event, CheckpointWritten):
            written.append(event.role)
        elif isinstance(event, EpochSummary):
            print(f"  {event.role} epoch {event.epoch}: held-out accuracy {event.heldout_accuracy}")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    checks.timings[f"train (quick demo) on {device}"] = time.perf_counter() - start
    print(f"  {len(losses)} steps, {len(frames)} probe frames, {len(rows)} FSS/RS values")
    checks.expect(
        bool(losses) and bool(np.isfinite(losses).all()), "training: a loss is missing or not finite"
    )
    checks.expect(bool(frames), "training: no probe frame")
    for frame in frames:
        for key in MAP_KEYS:
            checks.expect(bool(np.isfinite(frame.maps[key]).all()), f"training: {key} not finite")
    checks.expect(bool(rows) and any(np.isfinite(r.mean) for r in rows), "training: no finite FSS/RS value")
    checks.expect({"teacher", "base", "student"} <= set(written), f"training: checkpoints written: {written}")
    for role in ("teacher", "student"):  # a GPU run's checkpoints open on a machine without one
        loaded = load_checkpoint(out / "checkpoints" / f"{role}.safetensors", map_location="cpu")
        on = {p.device.type for p in loaded.model.parameters()}
        checks.expect(on == {"cpu"}, f"training: the {role} checkpoint loads onto {on}, not the CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    parser.add_argument("--probe", type=int, default=8)
    parser.add_argument("--metrics-n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--faithfulness-n", type=int, default=8, help="ROAD images (0: skip ROAD)")
    parser.add_argument("--map-mad", type=float, default=0.05, help="largest mean |diff| of a map (autocast)")
    parser.add_argument(
        "--map-corr", type=float, default=0.95, help="smallest correlation of a map (autocast)"
    )
    parser.add_argument("--metric-tol", type=float, default=0.03, help="largest |diff| of FSS/RS (autocast)")
    parser.add_argument(
        "--keep", metavar="DIR", help="write the reports and the run here instead of a temp dir"
    )
    args = parser.parse_args()

    print(
        f"torch {torch.__version__} (CUDA build {torch.version.cuda}), {platform.machine()}, "
        f"python {platform.python_version()}"
    )
    dry_run = args.device == "cpu"
    if not dry_run and not torch.cuda.is_available():
        print(
            "no CUDA GPU is usable here (torch.cuda.is_available() is False): nothing was checked. "
            "Run this on a GPU machine, or with --device cpu to dry-run the script."
        )
        return 0
    if dry_run:
        print("dry run: the 'device' half runs on the CPU too; this checks the script, not a GPU")
    else:
        print(f"GPU: {describe(args.device)}")
    tight = {"map_mad": 1e-4, "map_corr": 0.9999, "metric": 1e-4, "evidence": 1e-3}
    loose = {"map_mad": args.map_mad, "map_corr": args.map_corr, "metric": args.metric_tol, "evidence": 0.1}
    # float32 on a GPU: TF32 convolutions and other kernels move figures a little, far less than bf16
    float32 = tight if dry_run else {"map_mad": 0.01, "map_corr": 0.995, "metric": 0.01, "evidence": 0.05}
    checks = Checks()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.keep or temporary)
        root.mkdir(parents=True, exist_ok=True)
        paths = make_checkpoints(root)
        cpu = analyse(paths, root / "report-cpu", "cpu", args, True, checks)
        cast = analyse(paths, root / "report-device", args.device, args, True, checks)
        plain = analyse(paths, root / "report-device-float32", args.device, args, False, checks)
        autocast_dtype = cast.manifest.get("device", {}).get("autocast")
        print(f"device as the report records it: {cast.manifest.get('device')}")
        checks.expect(
            dry_run or str(cast.manifest.get("device", {}).get("device")) == "cuda",
            "the device report does not record cuda",
        )
        checks.expect(
            plain.manifest.get("device", {}).get("autocast") is None, "KDLENS_AUTOCAST=0 still autocast"
        )
        compare_reports(
            cpu, cast, f"{args.device} (autocast {autocast_dtype})", tight if dry_run else loose, checks
        )
        compare_reports(cpu, plain, f"{args.device} (float32)", float32, checks)
        train_steps(args.device, root / "run", checks)
    print("timings:")
    for what, seconds in checks.timings.items():
        print(f"  {what:52s} {seconds:7.2f} s")
    if checks.failures:
        print(f"FAILED: {len(checks.failures)} check(s) did not hold (listed above)")
        return 1
    print("all checks passed" + (" (dry run on the CPU)" if dry_run else f" on {args.device}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
