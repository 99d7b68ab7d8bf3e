"""The built-in demo: a teacher, base and student trained on the synthetic shapes, nothing else
needed (SPEC §6). Two presets, both small CNNs at 32 px:

* ``kd-gain``: base and student learn from 2000 images with 20 % of labels replaced at random,
  the teacher from a separate clean split. The teacher's soft targets undo much of the label
  noise, so the student beats the base on the clean held-out split (seed 0: teacher 0.978,
  base 0.657, student 0.815).
* ``cue-failure``: the same, plus a class-coloured background tint on every student image. The
  teacher never saw the cue; base and student both learn the tint instead of the shape, and KD
  does not stop that (seed 0: base 0.255, student 0.247 on the clean split; 0.0 and 0.01 on the
  "cue-flipped" split, where each tint names a wrong class): a failure case, measured.

Recipe (bench/calibrate_demo.py; chosen on calibration seeds 10 and 11, then checked on seed 0):
large_cnn teacher 30 epochs on 3000 clean images, small_cnn base and student 25 lockstep epochs,
Hinton KD with T = 4 and alpha = 0.5, AdamW with a cosine schedule, batch 32, 32 px (8 x 8 cells
at the CAM layer), objects of 0.3-0.45 of the image side. The teacher's maps stream after each of
its epochs, so heatmaps appear within seconds of Start; a probe frame every KD epoch, FSS/RS every
10 epochs and the evidence after the last.

``quick=True`` keeps the recipe but cuts every role to a couple of steps on tiny splits, for
tests and the app's ``--self-test`` (seconds, not minutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from engine.errors import KDLensError
from engine.events import Event, StopToken
from engine.jobs.train import train_job
from engine.training.config import DatasetConfig, KDConfig, OptimizerConfig, RoleConfig, TrainConfig
from engine.vocab import DEMO_PRESETS

__all__ = ["demo_config", "demo_job"]

_SHAPES = {
    "num_classes": 4,
    "clutter": 0.5,
    "object_size": (0.3, 0.45),
    "label_noise": 0.2,
    "teacher_size": 3000,
    "student_size": 2000,
    "test_size": 400,
}
_CUE = {"cue_fraction": 1.0, "cue_strength": 0.7}


def demo_config(preset: str = "kd-gain", quick: bool = False) -> TrainConfig:
    """The configuration of a demo preset (``kd-gain`` or ``cue-failure``)."""
    if preset not in DEMO_PRESETS:
        raise KDLensError(f"unknown demo preset {preset!r}; choose one of {', '.join(DEMO_PRESETS)}")
    shapes = dict(_SHAPES, **(_CUE if preset == "cue-failure" else {}))
    config = TrainConfig(
        teacher=RoleConfig("large_cnn", epochs=30, lr=2e-3),
        base=RoleConfig("small_cnn", epochs=25),
        student=RoleConfig("small_cnn", epochs=25),
        dataset=DatasetConfig(source="shapes", image_size=32, shapes=shapes),
        kd=KDConfig(loss="hinton", params={"temperature": 4.0, "alpha": 0.5}),
        optimizer=OptimizerConfig(name="adamw", lr=3e-3, weight_decay=5e-4, schedule="cosine"),
        batch_size=32,
        augment=True,
        seed=0,
        threads=2,
        probe_size=16,
        metrics_size=128,
        metrics_repeats=10,
        metrics_every=10,
    )
    if not quick:
        return config
    tiny = dict(shapes, teacher_size=96, student_size=64, test_size=48)
    return replace(
        config,
        teacher=RoleConfig("large_cnn", epochs=1, max_steps=2),
        base=RoleConfig("small_cnn", epochs=2, max_steps=2),
        student=RoleConfig("small_cnn", epochs=2, max_steps=2),
        dataset=replace(config.dataset, shapes=tiny),
        batch_size=32,
        threads=1,  # tiny batches gain nothing from a second thread
        probe_size=8,
        metrics_size=32,
        metrics_repeats=3,
        metrics_every=1,
        evidence_options={"evidence_faithfulness": 8, "evidence_sanity": 8},
    )


def demo_job(
    out_dir: str | Path, preset: str = "kd-gain", stop: StopToken | None = None, quick: bool = False
) -> Iterator[Event]:
    """Train the demo preset into ``out_dir`` (a new or empty folder); events as :func:`train_job`."""
    return train_job(demo_config(preset, quick=quick), out_dir, stop=stop)
