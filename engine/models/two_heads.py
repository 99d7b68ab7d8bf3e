"""Models with a class head and a distillation head (timm's distilled DeiT and LeViT).

In eval mode they return the average of both heads' logits, as any classifier returns logits. In
training mode, with timm's ``distilled_training`` switched on, they return both: (class logits,
distillation logits), which DeiT's own loss trains apart. KD Lens switches it on only around a
training step whose loss asks for both heads (:mod:`engine.losses`, ``two_heads``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from engine.models.spec import ModelError

__all__ = ["distillation_heads", "split_heads"]


@contextmanager
def distillation_heads(model: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Inside the block every part of ``model`` with a distillation head returns both heads in
    training mode; afterwards each as it was. Yields whether ``model`` has such a head."""
    switches = [m for m in model.modules() if callable(getattr(m, "set_distilled_training", None))]
    states = [(m, bool(getattr(m, "distilled_training", False))) for m in switches] if enabled else []
    for module, _ in states:
        module.set_distilled_training(True)
    try:
        yield bool(switches)
    finally:
        for module, state in states:
            module.set_distilled_training(state)


def split_heads(output: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(class logits, distillation logits or None) of a forward's output."""
    if isinstance(output, torch.Tensor):
        return output, None
    if (
        isinstance(output, (tuple, list))
        and len(output) == 2
        and all(isinstance(o, torch.Tensor) for o in output)
    ):
        return output[0], output[1]
    raise ModelError(
        f"the model returned {type(output).__name__}, not logits (n, classes) or a (class, "
        "distillation) pair of them; wrap it so that its forward returns the logits"
    )
