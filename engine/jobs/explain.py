"""Explain one image the user opened, with a run's models (SPEC §3, §8 Inspector).

UniCAM couples all images of a batch, so the opened image is explained inside the run's
recorded context batch: a seeded, class-balanced set of held-out images stored in ``sets.json``.
Its indices travel in the frame's flags, so the map can be reproduced.

A file has no label unless the user gives one: the frame's label is -1 (unknown) otherwise.
Grad-CAM explains each model's predicted class, or the class the user picks (``target``); the
label-guided UniCAM objective uses the picked class, else the user's label, else the teacher's
prediction, and the flags say which. The image is resized so its shorter side fits the run's
input size and centre-cropped to the square input (``engine.data.images.load_image``), as the
flags say too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from engine.cam import grad_cam
from engine.cam.hooks import eval_mode
from engine.checkpoints import load_checkpoint
from engine.data.errors import DataError
from engine.data.images import load_image
from engine.errors import KDLensError
from engine.events import Event, LogLine, Progress, StopToken
from engine.frames import slice_frame
from engine.models import get_spec
from engine.probe import probe_frame
from engine.runs.folder import RunDir
from engine.training.config import TrainConfig
from engine.training.setup import load_run_data
from engine.vocab import gradcam_key

__all__ = ["UnreadableImageError", "check_classes", "explain_image_job", "explain_in_context"]

UNKNOWN_LABEL = -1


class UnreadableImageError(KDLensError):
    """The opened file is not an image PIL can read."""


@lru_cache(maxsize=2)
def _run_data(config_json: str):
    """The run's data sets, built once per configuration: each opened image reuses them (the
    synthetic set alone takes most of a second to generate)."""
    return load_run_data(TrainConfig.from_json(config_json))


def explain_image_job(
    run_dir: str | Path,
    image_path: str | Path,
    *,
    epoch: int | None = None,
    target: int | None = None,
    label: int | None = None,
    stop: StopToken | None = None,
) -> Iterator[Event]:
    """Yield Progress/LogLine, then one ProbeFrame (n = 1) for ``image_path`` with every role's
    Grad-CAM and predictions and the distilled/residual maps; ``epoch`` None = latest weights.
    ``target``: the class to explain (None: each model's prediction); ``label``: the image's
    true class if the user knows it (None: unknown, stored as -1)."""
    stop = stop or StopToken()
    image_path = Path(image_path)
    if not image_path.is_file():
        raise KDLensError(f"{image_path} does not exist; pick an image file")
    _image_size(image_path)  # an unreadable file stops here, before any model is loaded
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
    models, specs = {}, {}
    yield from _load_models(run, config, epoch, kd_epoch, models, specs, stop)

    data = _run_data(config.to_json())
    names = tuple(data.class_names)
    check_classes(names, target, label)
    context = data.heldout.subset(sets.get("context", []))
    yield from explain_in_context(
        models,
        specs,
        image_path,
        context.images,
        context.clean_labels,
        names,
        data.normalized,
        epoch=epoch or kd_epoch,
        target=target,
        label=label,
        flags={
            "context": "run context batch",
            "context_split": sets.get("split", "heldout"),
            "context_indices": list(sets.get("context", [])),
        },
        stop=stop,
    )


def _load_models(
    run: RunDir,
    config: TrainConfig,
    epoch: int | None,
    kd_epoch: int,
    models: dict,
    specs: dict,
    stop: StopToken,
) -> Iterator[Event]:
    """Every role's checkpoint (base and student at ``epoch``, None: the latest) into ``models``
    and ``specs``, with a Progress per role."""
    steps = len(config.roles()) + 2
    yield Progress("explain", epoch or kd_epoch, 0, steps, 0, steps, stage="explain")
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


def check_classes(names: tuple[str, ...], target: int | None, label: int | None) -> None:
    """The class to explain and the user's label must be classes of the models."""
    for what, value in (("class to explain", target), ("label", label)):
        if value is not None and not 0 <= value < len(names):
            raise KDLensError(
                f"the {what} {value} is not one of this run's {len(names)} classes (0..{len(names) - 1})"
            )


def explain_in_context(
    models: dict,
    specs: dict,
    image_path: str | Path,
    context_images: torch.Tensor,
    context_labels: torch.Tensor,
    names: tuple[str, ...],
    normalized,
    *,
    epoch: int,
    target: int | None,
    label: int | None,
    flags: dict,
    stop: StopToken,
) -> Iterator[Event]:
    """Yield a LogLine and the one-image ProbeFrame of ``image_path`` explained by ``models``
    inside the context batch ``context_images`` ([0, 1], (n, 3, H, W)) with ``context_labels``;
    ``normalized`` turns [0, 1] images into the models' inputs; ``flags`` say where the context
    came from (run folders and analysis reports share everything else)."""
    image_path = Path(image_path)
    original_size = _image_size(image_path)
    size = int(context_images.shape[-1])
    try:
        image = load_image(image_path, size)
    except DataError:
        raise _unreadable(image_path) from None
    with torch.no_grad(), eval_mode(models["teacher"]) as guide_model:
        predicted = int(guide_model(normalized(image[None])).argmax(1))
    stop.check()
    guide, guide_source = _guide(target, label, predicted)
    images = torch.cat([image[None], context_images])
    inputs = normalized(images)
    known = UNKNOWN_LABEL if label is None else label
    frame = probe_frame(
        models,
        specs,
        images,
        inputs,
        torch.cat([torch.tensor([known]), torch.as_tensor(context_labels)]),
        names,
        epoch=epoch,
        unicam_labels=torch.cat([torch.tensor([guide]), torch.as_tensor(context_labels)]),
        flags={
            "image_path": str(image_path),
            **flags,
            "label_source": guide_source,  # what guided UniCAM's label-guided objective
            "label": "given by the user" if label is not None else "unknown (none given)",
            "target": target,
            "explained_class": names[target] if target is not None else "each model's prediction",
            "unicam_guide": names[guide],
            "original_size": list(original_size),
            "preprocessing": f"resized so the shorter side is {size} px, then centre-cropped to the "
            f"model's square {size}x{size} input",
        },
    )
    opened = slice_frame(frame, slice(0, 1))
    if target is not None:  # Grad-CAM of the chosen class rather than of each model's prediction
        opened = _with_gradcam_of(opened, models, specs, inputs[:1], target)
    yield LogLine(f"explained {image_path.name} inside a context batch of {len(images)} images")
    yield replace(opened, masks=None, indices=np.asarray([-1], dtype=np.int64))


def _guide(target: int | None, label: int | None, predicted: int) -> tuple[int, str]:
    """The class that guides UniCAM's objective for the opened image, and where it came from."""
    if target is not None:
        return target, "chosen class"
    if label is not None:
        return label, "user label"
    return predicted, "teacher prediction"


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header; a file PIL cannot read is named."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # PIL raises many kinds for files that are not images
        raise _unreadable(path) from None


def _unreadable(path: Path) -> UnreadableImageError:
    return UnreadableImageError(
        f"{path.name}: this file is not an image PIL can read; open a PNG, JPEG, BMP, TIFF, WebP or GIF file."
    )


def _with_gradcam_of(frame, models, specs, normalized: torch.Tensor, target: int):
    """``frame`` (one image) with every role's Grad-CAM recomputed for class ``target``."""
    maps, raw, signed = dict(frame.maps), dict(frame.raw), dict(frame.signed)
    for role, model in models.items():
        with eval_mode(model) as explained:
            result = grad_cam(explained, specs[role].cam_layer, normalized, target=target)
        key = gradcam_key(role)
        maps[key], raw[key], signed[key] = result.maps, result.raw, result.signed
    return replace(frame, maps=maps, raw=raw, signed=signed)
