"""Shared helpers of the bad-input suite (issue 11): tiny data, checkpoints and configurations,
a folder's fingerprint, a read-only place, and the CLI run in-process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.checkpoints import ModelCard, save_checkpoint
from engine.cli import main
from engine.jobs.demo import demo_config
from engine.models import build_model
from engine.runs.lock import LOCK_FILE

CLASSES = ("apple", "pear", "plum")


def fingerprint(path: Path) -> dict[str, str] | str | None:
    """Every file under ``path`` (or ``path`` itself) by content; the run lock's file is left out
    (the OS lock a refused resume takes and drops is not the user's data)."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.exists():
        return None
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def run_cli(argv: list, capsys) -> tuple[int, str]:
    """Exit code and stderr of ``kdlens-cli argv`` (argparse's own exit included)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def image_folder(root: Path, per_class: int = 6, classes=CLASSES, splits=("train", "test"), size=16) -> Path:
    """``root/<split>/<class>/<n>.png`` (``split`` None: no split folder), a class colour each."""
    rng = np.random.default_rng(0)
    for split in splits:
        for c, name in enumerate(classes):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
                pixels[..., c % 3] = 230
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def checkpoint(
    path: Path, arch: str, seed: int, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), classes=CLASSES
) -> Path:
    torch.manual_seed(seed)
    card = ModelCard(arch, len(classes), tuple(classes), input_size=32, mean=mean, std=std)
    save_checkpoint(build_model(arch, len(classes)), path, card)
    return path


def bare_checkpoint(path: Path, arch: str, seed: int) -> Path:
    """Weights only (a state dict in a .pt file): no card states the normalisation."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_model(arch, len(CLASSES)).state_dict(), path)
    return path


def tiny_train_config():
    """A run of a second or two: the demo's recipe on 32 + 32 + 16 images of 16 px."""
    config = demo_config("kd-gain", quick=True)
    shapes = dict(config.dataset.shapes, teacher_size=32, student_size=32, test_size=16)
    return replace(
        config,
        threads=1,
        evidence=False,
        dataset=replace(config.dataset, shapes=shapes, image_size=16),
        teacher=replace(config.teacher, epochs=1, max_steps=1),
        base=replace(config.base, epochs=1, max_steps=1),
        student=replace(config.student, epochs=1, max_steps=1),
        batch_size=16,
        probe_size=8,
        metrics_size=8,
        metrics_repeats=1,
    )


@contextlib.contextmanager
def read_only_place(tmp_path: Path):
    """A folder this process cannot write in: a read-only tmpfs when running as root (root
    ignores permissions), else a folder without write permission; skips where neither works."""
    place = tmp_path / f"read_only_{uuid.uuid4().hex[:6]}"
    place.mkdir()
    if os.geteuid() != 0:
        place.chmod(0o555)
        try:
            yield place
        finally:
            place.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(place)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("running as root without permission to mount a read-only file system")
    try:
        yield place
    finally:
        subprocess.run(["umount", str(place)], check=False)
