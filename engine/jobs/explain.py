"""Explain one image the user opened, with a run's models (SPEC §3, §8 Inspector).

UniCAM couples all images of a batch, so the opened image is explained inside the run's
recorded context batch: a seeded, class-balanced set of held-out images stored in ``sets.json``.
Its indices travel in the frame's flags, so the map can be reproduced. The image's unknown
label is replaced by the teacher's prediction for the label-guided objective.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from engine.cam.hooks import eval_mode
from engine.checkpoints import load_checkpoint
from engine.data.images import load_image
from engine.errors import KDLensError
from engine.events import Event, LogLine, Progress, StopToken
from engine.frames import slice_frame
from engine.models import get_spec
from engine.probe import probe_frame
from engine.runs.folder import RunDir
from engine.training.config import TrainConfig
from engine.training.setup import load_run_data

__all__ = ["explain_image_job"]


@lru_cache(maxsize=2)
def _run_data(config_json: str):
    """The run's data sets, built once per configuration: each opened image reuses them (the
    synthetic set alone takes most of a second to generate)."""
    return load_run_data(TrainConfig.from_json(config_json))


def explain_image_job(
    run_dir: str | Path, image_path: str | Path, *, epoch: int | None = None, stop: StopToken | None = None
) -> Iterator[Event]:
    """Yield Progress/LogLine, then one ProbeFrame (n = 1) for ``image_path`` with every role's
    Grad-CAM and predictions and the distilled/residual maps; ``epoch`` None = latest weights."""
    stop = stop or StopToken()
    run = RunDir(run_dir)
    run.require_run()
    config = TrainConfig.load(run.config_path)
    sets = run.read_sets()
    completed = run.completed_epochs()
    kd_epoch = min(completed.get("base", 0), completed.get("student", 0))
    if epoch is not None and not 1 <= epoch <= kd_epoch:
        raise KDLensError(
            f"{run.path} has checkpoints for epochs 1..{kd_epoch}, not {epoch}; pick one of those"
        )
    steps = len(config.roles()) + 2
    yield Progress("explain", epoch or kd_epoch, 0, steps, 0, steps, stage="explain")

    models, specs = {}, {}
    for done, (role, role_config) in enumerate(config.roles().items(), start=1):
        stop.check()
        if role_config.load is not None:
            path = Path(role_config.load).expanduser()
        else:
            path = run.checkpoint_path(role, epoch if role in ("base", "student") and epoch else None)
        if not path.is_file():
            raise KDLensError(
                f"the {role} checkpoint {path} is missing; the run has not trained that role yet "
                "(resume it, or pick another epoch)"
            )
        models[role] = load_checkpoint(path, arch=role_config.arch).model
        specs[role] = get_spec(role_config.arch)
        yield Progress("explain", epoch or kd_epoch, done, steps, done, steps, stage="explain")

    data = _run_data(config.to_json())
    image = load_image(image_path, data.heldout.image_size)
    context = data.heldout.subset(sets.get("context", []))
    with torch.no_grad(), eval_mode(models["teacher"]) as guide_model:
        predicted = int(guide_model(data.normalized(image[None])).argmax(1))
    stop.check()
    images = torch.cat([image[None], context.images])
    labels = torch.cat([torch.tensor([predicted]), context.clean_labels])
    frame = probe_frame(
        models,
        specs,
        images,
        data.normalized(images),
        labels,
        data.class_names,
        epoch=epoch or kd_epoch,
        flags={
            "image_path": str(image_path),
            "context": "run context batch",
            "context_split": sets.get("split", "heldout"),
            "context_indices": list(sets.get("context", [])),
            "label_source": "teacher prediction",
        },
    )
    yield LogLine(f"explained {Path(image_path).name} inside a context batch of {len(images)} images")
    opened = slice_frame(frame, slice(0, 1))
    yield replace(opened, masks=None, indices=np.asarray([-1], dtype=np.int64))
