"""Knowledge-distillation losses, looked up by name (SPEC §5).

* ``hinton``: (1 - a) CE + a T^2 KL(softmax(z_t / T) || softmax(z_s / T)), defaults T = 4, a = 0.9
  (Hinton, Vinyals and Dean 2015; the T^2 keeps the soft term's gradient scale independent of T).
* ``authors``: the preset of the paper's authors, 0.7 CE + 0.3 T^2 MSE(softmax(z_s / T),
  softmax(z_t / T)) with T = 20.
* ``attention``: CE + beta/2 * sum over matched stages of || q_s / |q_s| - q_t / |q_t| ||^2 per
  image, with q = the channel mean of squared activations, flattened (Zagoruyko and Komodakis
  2017). Stages of different spatial size are matched by adaptive average pooling.

Every loss takes a :class:`KDInputs` so the training loop calls all of them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.errors import KDLensError

__all__ = [
    "KD_LOSSES",
    "KDInputs",
    "UnknownLossError",
    "attention_map",
    "attention_transfer",
    "authors_kd",
    "default_hyperparameters",
    "get_kd_loss",
    "hinton_kd",
]


class UnknownLossError(KDLensError, ValueError):
    """A KD loss name that is not in :data:`KD_LOSSES`."""


@dataclass(frozen=True)
class KDInputs:
    """What a KD loss may look at for one batch (teacher tensors are detached by the caller)."""

    student_logits: torch.Tensor
    teacher_logits: torch.Tensor
    labels: torch.Tensor
    student_features: Sequence[torch.Tensor] = ()
    teacher_features: Sequence[torch.Tensor] = ()


def hinton_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Hinton KD: (1 - alpha) CE(z_s, y) + alpha T^2 KL(p_t^T || p_s^T), batch mean."""
    hard = F.cross_entropy(student_logits, labels)
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    soft = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return (1.0 - alpha) * hard + alpha * temperature**2 * soft


def authors_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 20.0,
    alpha: float = 0.3,
) -> torch.Tensor:
    """The authors' preset: (1 - alpha) CE + alpha T^2 MSE of the softened outputs (0.7 / 0.3, T = 20).

    The MSE is the mean over batch and classes of the squared difference of probabilities.
    """
    hard = F.cross_entropy(student_logits, labels)
    p_s = F.softmax(student_logits / temperature, dim=1)
    p_t = F.softmax(teacher_logits.detach() / temperature, dim=1)
    soft = F.mse_loss(p_s, p_t)
    return (1.0 - alpha) * hard + alpha * temperature**2 * soft


def attention_map(features: torch.Tensor) -> torch.Tensor:
    """Spatial attention of a (n, C, h, w) map: channel mean of squares, (n, h, w)."""
    if features.dim() != 4:
        raise KDLensError(
            f"attention transfer needs (n, C, h, w) feature maps, got shape {tuple(features.shape)}; "
            "pick convolutional stages as the matched layers"
        )
    return features.pow(2).mean(dim=1)


def attention_transfer(
    student_features: Sequence[torch.Tensor],
    teacher_features: Sequence[torch.Tensor],
    beta: float = 1000.0,
) -> torch.Tensor:
    """Sum over matched stages of beta/2 * mean_i || a_s,i - a_t,i ||_2^2 with L2-normalised maps."""
    if len(student_features) != len(teacher_features) or not student_features:
        raise KDLensError(
            f"attention transfer matches stages one to one, got {len(student_features)} student and "
            f"{len(teacher_features)} teacher stages; give both models the same number of taps"
        )
    total = student_features[0].new_zeros(())
    for f_s, f_t in zip(student_features, teacher_features, strict=True):
        a_s, a_t = attention_map(f_s), attention_map(f_t.detach())
        if a_s.shape[-2:] != a_t.shape[-2:]:
            size = (min(a_s.shape[-2], a_t.shape[-2]), min(a_s.shape[-1], a_t.shape[-1]))
            a_s = F.adaptive_avg_pool2d(a_s.unsqueeze(1), size).squeeze(1)
            a_t = F.adaptive_avg_pool2d(a_t.unsqueeze(1), size).squeeze(1)
        q_s = F.normalize(a_s.flatten(1), dim=1)
        q_t = F.normalize(a_t.flatten(1), dim=1)
        total = total + (q_s - q_t).pow(2).sum(dim=1).mean()
    return beta / 2.0 * total


def _hinton(inputs: KDInputs, temperature: float, alpha: float, beta: float) -> torch.Tensor:
    return hinton_kd(inputs.student_logits, inputs.teacher_logits, inputs.labels, temperature, alpha)


def _authors(inputs: KDInputs, temperature: float, alpha: float, beta: float) -> torch.Tensor:
    return authors_kd(inputs.student_logits, inputs.teacher_logits, inputs.labels, temperature, alpha)


def _attention(inputs: KDInputs, temperature: float, alpha: float, beta: float) -> torch.Tensor:
    hard = F.cross_entropy(inputs.student_logits, inputs.labels)
    return hard + attention_transfer(inputs.student_features, inputs.teacher_features, beta)


KDLossFn = Callable[[KDInputs, float, float, float], torch.Tensor]

#: name -> (loss(inputs, temperature, alpha, beta), needs intermediate features)
KD_LOSSES: dict[str, tuple[KDLossFn, bool]] = {
    "hinton": (_hinton, False),
    "authors": (_authors, False),
    "attention": (_attention, True),
}

_DEFAULTS = {
    "hinton": {"temperature": 4.0, "alpha": 0.9, "beta": 0.0},
    "authors": {"temperature": 20.0, "alpha": 0.3, "beta": 0.0},
    "attention": {"temperature": 1.0, "alpha": 0.0, "beta": 1000.0},
}


def default_hyperparameters(name: str) -> dict[str, float]:
    """The documented defaults (temperature, alpha, beta) of the loss called ``name``."""
    get_kd_loss(name)
    return dict(_DEFAULTS[name])


def get_kd_loss(name: str) -> tuple[KDLossFn, bool]:
    """The loss function registered as ``name`` and whether it needs intermediate features."""
    try:
        return KD_LOSSES[name]
    except KeyError:
        raise UnknownLossError(
            f"unknown KD loss {name!r}; choose one of {', '.join(sorted(KD_LOSSES))}"
        ) from None
