"""The pieces of one training step: optimiser and schedule, seeded data order and augmentation,
the NaN guard and held-out accuracy. The job in :mod:`engine.train` strings them together.

Data order and augmentation are drawn from generators seeded by (seed, phase, epoch), not from a
running RNG, so a resumed epoch sees exactly the batches it would have seen, and the base and
the student of one run see the same batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from engine.cam.hooks import eval_mode, first_tensor
from engine.errors import KDLensError
from engine.training.config import OptimizerConfig

__all__ = [
    "TrainingDivergedError",
    "augment_batch",
    "batches",
    "check_finite",
    "collector",
    "latest_features",
    "evaluate_accuracy",
    "make_optimizer",
    "seeded_generator",
]


class TrainingDivergedError(KDLensError):
    """The loss became NaN or infinite; the last complete epoch's checkpoint is kept."""


def seeded_generator(seed: int, *parts: object) -> torch.Generator:
    """A CPU generator whose seed is a stable hash of ``seed`` and ``parts`` (e.g. phase, epoch)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode("utf-8")).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return generator


def make_optimizer(
    model: nn.Module, config: OptimizerConfig, lr: float, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov-free momentum (default) or AdamW, with a per-step cosine or constant schedule."""
    if config.name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, total_steps)
        )
    else:
        scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return optimizer, scheduler


def batches(
    n: int, batch_size: int, generator: torch.Generator, max_steps: int | None = None
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch in a seeded random order; the last short batch is dropped when
    more than one batch exists (batch norm dislikes a batch of one)."""
    order = torch.randperm(n, generator=generator)
    steps = steps_per_epoch(n, batch_size, max_steps)
    for step in range(steps):
        yield order[step * batch_size : (step + 1) * batch_size]


def steps_per_epoch(n: int, batch_size: int, max_steps: int | None = None) -> int:
    steps = max(1, n // batch_size) if n >= batch_size else 1
    return steps if max_steps is None else min(steps, max_steps)


def augment_batch(images: torch.Tensor, generator: torch.Generator, shift: int = 3) -> torch.Tensor:
    """Random horizontal flips and translations of up to ``shift`` pixels (reflect padding)."""
    n, _, h, w = images.shape
    flips = torch.rand(n, generator=generator) < 0.5
    offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator)
    out = torch.where(flips[:, None, None, None], images.flip(-1), images)
    padded = F.pad(out, (shift, shift, shift, shift), mode="reflect")
    crops = [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
    return torch.stack(crops)


def check_finite(loss: torch.Tensor, role: str, epoch: int, step: int) -> None:
    """Stop the run with a clear message when a loss is NaN or infinite."""
    if not torch.isfinite(loss.detach()).all():
        raise TrainingDivergedError(
            f"the {role}'s loss became {float(loss.detach())} at epoch {epoch}, step {step}; training "
            "stopped and the checkpoint of the last complete epoch was kept. Lower the learning rate or "
            "the KD temperature and start again (or resume, which restarts the unfinished epoch)"
        )


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> float:
    """Top-1 accuracy of ``model`` on normalised ``images`` in eval mode (its mode is restored)."""
    device = next(model.parameters()).device
    correct = 0
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return correct / max(1, len(images))


def latest_features(features: dict[str, list[torch.Tensor]] | None) -> tuple[list, list]:
    """The stage outputs of this step's student and teacher passes; the lists are emptied."""
    if not features:
        return [], []
    student, teacher = list(features["student"]), list(features["teacher"])
    features["student"].clear()
    features["teacher"].clear()
    return student, teacher


def collector(store: list[torch.Tensor]):
    """A forward-hook callback that keeps each output's first tensor in ``store``."""

    def keep(_name: str, output: object) -> None:
        store.append(first_tensor(output))

    return keep


STEP_POINTS = 256  # at most this many points of an epoch's loss curve are stored


def thin_curve(points: list[tuple[int, float]], most: int = STEP_POINTS) -> tuple[tuple[int, float], ...]:
    """Every k-th ``(step, loss)`` point, k chosen so that at most ``most`` remain, the last kept."""
    stride = -(-len(points) // most) if points else 1
    kept = [point for index, point in enumerate(points, start=1) if index % stride == 0]
    if points and (not kept or kept[-1] != points[-1]):
        kept.append(points[-1])
    return tuple(kept)
