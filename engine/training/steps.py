"""The pieces of a training session's steps (:mod:`engine.training.session`): one role's step
(forward through the module it trains through, the loss with or without the KD term, backward,
optimiser and schedule) and the stage outputs a feature-based KD loss reads. The pace of the
steps (the time left) is :mod:`engine.training.pace`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.cam.hooks import output_hooks
from engine.losses import KDInputs, KDLoss
from engine.models import ModelSpec, distillation_heads, split_heads
from engine.training.loop import check_finite, collector, latest_features

__all__ = ["feature_taps", "role_step"]


def role_step(
    trainer: nn.Module,
    optim: tuple[torch.optim.Optimizer, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    kd: tuple[KDLoss, dict[str, Any], torch.Tensor, Any] | None,
    where: tuple[str, int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step of one role on the batch ``(x, y)``; (loss, logits), detached.

    ``kd``: (loss, its parameters, the teacher's logits, the captured features) when the role
    learns from a teacher, None for plain cross-entropy. A loss that asks for two heads gets a
    distilled model's class and distillation logits apart; the logits returned are then their
    average, as the model predicts in eval mode. ``where``: (role, epoch, step) for the NaN
    guard's message."""
    optimizer, scheduler = optim
    with distillation_heads(trainer, enabled=kd is not None and kd[0].two_heads):
        logits, dist_logits = split_heads(trainer(x))
    if kd is None:
        loss = F.cross_entropy(logits, y)
    else:
        kd_loss, params, teacher_logits, features = kd
        student_features, teacher_features = latest_features(features)
        inputs = KDInputs(logits, teacher_logits, y, student_features, teacher_features, dist_logits)
        loss = kd_loss.function(inputs, **params)
    if dist_logits is not None:
        logits = (logits + dist_logits) / 2
    check_finite(loss, *where)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.detach(), logits.detach()


@contextmanager
def feature_taps(
    student: nn.Module | None,
    teacher: nn.Module | None,
    specs: Mapping[str, ModelSpec],
    roles: tuple[str, str],
) -> Iterator[dict[str, list[torch.Tensor]] | None]:
    """Forward hooks collecting the matched stage outputs of ``student`` and ``teacher`` (their
    ``roles``) while a feature-based KD loss trains; None when either is missing."""
    if student is None or teacher is None:
        yield None
        return
    taps_s, taps_t = specs[roles[0]].metric_taps, specs[roles[1]].metric_taps
    count = min(len(taps_s), len(taps_t))
    captured: dict[str, list[torch.Tensor]] = {"student": [], "teacher": []}
    with (
        output_hooks(student, taps_s[-count:], collector(captured["student"])),
        output_hooks(teacher, taps_t[-count:], collector(captured["teacher"])),
    ):
        yield captured
