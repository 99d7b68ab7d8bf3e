"""How the demo presets' recipes were chosen: train candidate recipes (no live explanations) and
print every role's held-out accuracy, on the clean split and, with a cue, the cue-flipped split.

Run: .venv/bin/python bench/calibrate_demo.py --seeds 10,11 [--only NAME ...]
Recipes are chosen on calibration seeds (10, 11), never on the seeds the study reports (0, 1, 2).
The teacher of a seed is trained once and loaded by every candidate that keeps its data and
recipe. bench/README.md says which recipe became the preset and what it gave.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from engine.events import JobFinished
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.runs.folder import RunDir
from engine.training.config import RoleConfig, TrainConfig

# name -> (preset, changes to the shapes, changes to base/student recipe[, changes to the teacher])
CANDIDATES = {
    "preset": ("kd-gain", {}, {}),
    "s1500-n30-e30": ("kd-gain", {"student_size": 1500, "label_noise": 0.3}, {"epochs": 30}),
    "s1500-n20-e30": ("kd-gain", {"student_size": 1500, "label_noise": 0.2}, {"epochs": 30}),
    "s1500-n15-e30": ("kd-gain", {"student_size": 1500, "label_noise": 0.15}, {"epochs": 30}),
    "s2000-n20-e25": ("kd-gain", {"student_size": 2000, "label_noise": 0.2}, {"epochs": 25}),
    "cue-preset": ("cue-failure", {}, {}),
    "cue-s2000-n20-e25": ("cue-failure", {"student_size": 2000, "label_noise": 0.2}, {"epochs": 25}),
    "t30-s2000-n20-e25": (
        "kd-gain",
        {"student_size": 2000, "label_noise": 0.2},
        {"epochs": 25},
        {"epochs": 30},
    ),
    "t30-s2000-n20-e35": (
        "kd-gain",
        {"student_size": 2000, "label_noise": 0.2},
        {"epochs": 35},
        {"epochs": 30},
    ),
    "t30-e25-T4a5": (
        "kd-gain",
        {"student_size": 2000, "label_noise": 0.2},
        {"epochs": 25},
        {"epochs": 30},
        {"temperature": 4.0, "alpha": 0.5},
    ),
    "t30-e25-T2a9": (
        "kd-gain",
        {"student_size": 2000, "label_noise": 0.2},
        {"epochs": 25},
        {"epochs": 30},
        {"temperature": 2.0, "alpha": 0.9},
    ),
    "cue100-t30-e25-T4a5": (
        "cue-failure",
        {"student_size": 2000, "label_noise": 0.2, "cue_fraction": 1.0},
        {"epochs": 25},
        {"epochs": 30},
        {"temperature": 4.0, "alpha": 0.5},
    ),
    "cue100-t30-s2000-n20-e25": (
        "cue-failure",
        {"student_size": 2000, "label_noise": 0.2, "cue_fraction": 1.0},
        {"epochs": 25},
        {"epochs": 30},
    ),
    "cue100-s2000-n20-e25": (
        "cue-failure",
        {"student_size": 2000, "label_noise": 0.2, "cue_fraction": 1.0},
        {"epochs": 25},
    ),
}


def _config(name: str, seed: int) -> TrainConfig:
    preset, shapes, recipe, *more = CANDIDATES[name]
    config = demo_config(preset)
    if more:
        config = replace(config, teacher=replace(config.teacher, **more[0]))
    if len(more) > 1:
        config = replace(config, kd=replace(config.kd, params=more[1]))
    dataset = replace(config.dataset, shapes=dict(config.dataset.shapes, **shapes))
    roles = {role: replace(getattr(config, role), **recipe) for role in ("base", "student")}
    return replace(config, dataset=dataset, seed=seed, probe=False, metrics=False, evidence=False, **roles)


def _teacher(config: TrainConfig, cache: Path) -> Path:
    """The seed's teacher (trained once per seed and teacher recipe, then loaded)."""
    student_only = ("student_size", "label_noise", "cue_fraction", "cue_strength")
    teacher_data = {k: v for k, v in config.dataset.shapes.items() if k not in student_only}
    key = [config.seed, vars(config.teacher), config.dataset.image_size, teacher_data]
    key = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache / f"teacher_{digest}.safetensors"
    if not path.is_file():
        one = RoleConfig("small_cnn", epochs=1, max_steps=1)
        run = cache / f"teacher_run_{digest}"
        shutil.rmtree(run, ignore_errors=True)  # left by an interrupted calibration
        list(train_job(replace(config, base=one, student=one), run))
        RunDir(run).checkpoint_path("teacher").replace(path)
        RunDir(run).checkpoint_path("teacher").with_suffix(".json").replace(path.with_suffix(".json"))
    return path


def run(name: str, seed: int, cache: Path) -> dict:
    config = _config(name, seed)
    started = time.perf_counter()
    teacher = _teacher(config, cache)
    config = replace(config, teacher=replace(config.teacher, load=str(teacher)))
    with tempfile.TemporaryDirectory() as tmp:
        finished = [e for e in train_job(config, Path(tmp) / "run") if isinstance(e, JobFinished)][-1]
    summary = finished.summary
    splits = summary["heldout_accuracy_by_split"]
    return {
        "name": name,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        "clean": {k: round(v, 3) for k, v in summary["heldout_accuracy"].items()},
        **{split: {k: round(v, 3) for k, v in acc.items()} for split, acc in splits.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10,11")
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    parser.add_argument("--cache", default="/tmp/kdlens-calibration", help="where seeds' teachers are kept")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in args.only or CANDIDATES:
            print(json.dumps(run(name, seed, cache)), flush=True)


if __name__ == "__main__":
    main()
