"""Knowledge-distillation losses in one registry (SPEC §5), torchdistill-style.

Each loss is registered where it is defined, with its hyper-parameters (default and valid
range) and whether it needs intermediate features; the training configuration's validation,
the training loop's default merging and the window's list all read :data:`KD_LOSSES`. Adding a
loss is one function and its ``@register_kd_loss(...)``:

* ``hinton``: (1 - a) CE + a T^2 KL(softmax(z_t / T) || softmax(z_s / T)), defaults T = 4, a = 0.9
  (Hinton, Vinyals and Dean 2015; the T^2 keeps the soft term's gradient scale independent of T).
* ``authors``: the preset of the paper's authors, 0.7 CE + 0.3 T^2 MSE(softmax(z_s / T),
  softmax(z_t / T)) with T = 20.
* ``attention``: CE + beta/2 * sum over matched stages of || q_s / |q_s| - q_t / |q_t| ||^2 per
  image, with q = the channel mean of squared activations, flattened (Zagoruyko and Komodakis
  2017). Stages of different spatial size are matched by adaptive average pooling.
* ``deit``: DeiT's hard distillation, (1 - a) CE(z_cls, y) + a CE(z_dist, argmax z_t), a = 0.5
  (Touvron et al. 2021): the class head learns the labels, the distillation token's head the
  teacher's hard decisions. It asks for both heads (``two_heads``): a distilled timm model
  (``timm:deit_*_distilled_*``) returns them in training; a model with one head uses it for both
  terms (DeiT's hard distillation without a distillation token).

A registered function is called as ``function(inputs: KDInputs, **hyperparameters)``.
``two_heads=True`` makes the training step ask a two-head model for both heads
(:func:`engine.models.distillation_heads`) and hand the second in ``student_dist_logits``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.errors import KDLensError

__all__ = [
    "KD_LOSSES",
    "HyperParameter",
    "KDInputs",
    "KDLoss",
    "LossConfigError",
    "UnknownLossError",
    "attention_map",
    "attention_transfer",
    "authors_kd",
    "deit_hard_kd",
    "get_kd_loss",
    "hinton_kd",
    "register_kd_loss",
]


class LossConfigError(KDLensError, ValueError):
    """Hyper-parameters that a KD loss does not take, or values outside their range."""


class UnknownLossError(LossConfigError):
    """A KD loss name that is not in :data:`KD_LOSSES`."""


@dataclass(frozen=True)
class KDInputs:
    """What a KD loss may look at for one batch (teacher tensors are detached by the caller).

    ``student_dist_logits``: the student's distillation head, when the loss asks for two heads
    and the student has one (else None)."""

    student_logits: torch.Tensor
    teacher_logits: torch.Tensor
    labels: torch.Tensor
    student_features: Sequence[torch.Tensor] = ()
    teacher_features: Sequence[torch.Tensor] = ()
    student_dist_logits: torch.Tensor | None = None


@dataclass(frozen=True)
class HyperParameter:
    """A loss's numeric knob: its default and valid range (``low_open``: low itself is invalid)."""

    default: float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    help: str = ""

    def describe_range(self) -> str:
        low = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = "" if self.high is None else f"<= {self.high:g}"
        return " and ".join(part for part in (low, high) if part) or "any finite number"

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


@dataclass(frozen=True)
class KDLoss:
    """One registered KD loss: the function, its hyper-parameters, whether it needs features and
    whether it trains a class head and a distillation head apart (``two_heads``)."""

    name: str
    function: Callable[..., torch.Tensor]
    hyperparameters: Mapping[str, HyperParameter] = field(default_factory=dict)
    needs_features: bool = False
    description: str = ""
    two_heads: bool = False

    def defaults(self) -> dict[str, float]:
        return {name: spec.default for name, spec in self.hyperparameters.items()}

    def resolve(self, params: Mapping[str, object] | None = None) -> dict[str, float]:
        """The defaults overridden by ``params``; every key and value checked, with a message."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.hyperparameters))
        if unknown:
            known = ", ".join(self.hyperparameters) or "none"
            raise LossConfigError(
                f"the KD loss {self.name!r} has no hyper-parameter {', '.join(map(repr, unknown))}; "
                f"its hyper-parameters are: {known}"
            )
        resolved = self.defaults()
        for name, value in params.items():
            spec = self.hyperparameters[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise LossConfigError(
                    f"{self.name} {name} must be a number ({spec.describe_range()}), got {value!r}"
                )
            if not spec.accepts(float(value)):
                raise LossConfigError(
                    f"{self.name} {name} = {value!r} is out of range; it must be {spec.describe_range()}"
                )
            resolved[name] = float(value)
        return resolved


#: name -> KDLoss, filled by :func:`register_kd_loss` where each loss is defined.
KD_LOSSES: dict[str, KDLoss] = {}


def register_kd_loss(
    name: str,
    *,
    description: str = "",
    needs_features: bool = False,
    two_heads: bool = False,
    **hyperparameters: HyperParameter,
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: register ``function(inputs, **hyperparameters)`` as the KD loss ``name``."""

    def register(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        KD_LOSSES[name] = KDLoss(
            name, function, dict(hyperparameters), needs_features, description, two_heads
        )
        return function

    return register


def get_kd_loss(name: str) -> KDLoss:
    """The loss registered as ``name``."""
    try:
        return KD_LOSSES[name]
    except KeyError:
        raise UnknownLossError(
            f"unknown KD loss {name!r}; choose one of {', '.join(sorted(KD_LOSSES))}"
        ) from None


# ---- the losses ------------------------------------------------------------------------------

_TEMPERATURE = "softening temperature T of both models' outputs"
_ALPHA = "weight of the soft (teacher) term; 1 - alpha weighs the cross-entropy with the labels"


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


@register_kd_loss(
    "hinton",
    description="soft-label KL: (1 - alpha) CE + alpha T² KL (Hinton et al. 2015)",
    temperature=HyperParameter(4.0, low=0.0, low_open=True, help=_TEMPERATURE),
    alpha=HyperParameter(0.9, low=0.0, high=1.0, help=_ALPHA),
)
def _hinton(inputs: KDInputs, temperature: float, alpha: float) -> torch.Tensor:
    return hinton_kd(inputs.student_logits, inputs.teacher_logits, inputs.labels, temperature, alpha)


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


@register_kd_loss(
    "authors",
    description="the paper authors' preset: 0.7 CE + 0.3 T² MSE of softened outputs, T = 20",
    temperature=HyperParameter(20.0, low=0.0, low_open=True, help=_TEMPERATURE),
    alpha=HyperParameter(0.3, low=0.0, high=1.0, help=_ALPHA),
)
def _authors(inputs: KDInputs, temperature: float, alpha: float) -> torch.Tensor:
    return authors_kd(inputs.student_logits, inputs.teacher_logits, inputs.labels, temperature, alpha)


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


@register_kd_loss(
    "attention",
    description="attention transfer on matched stages: CE + beta/2 Σ ||q_s - q_t||² (Zagoruyko 2017)",
    needs_features=True,
    beta=HyperParameter(1000.0, low=0.0, help="weight of the attention term"),
)
def _attention(inputs: KDInputs, beta: float) -> torch.Tensor:
    hard = F.cross_entropy(inputs.student_logits, inputs.labels)
    return hard + attention_transfer(inputs.student_features, inputs.teacher_features, beta)


def deit_hard_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 0.5,
    dist_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """DeiT's hard distillation: (1 - alpha) CE(class head, y) + alpha CE(distillation head, the
    teacher's argmax); without a distillation head both terms use the class head."""
    hard = F.cross_entropy(student_logits, labels)
    teacher_labels = teacher_logits.detach().argmax(dim=1)
    distilled = F.cross_entropy(student_logits if dist_logits is None else dist_logits, teacher_labels)
    return (1.0 - alpha) * hard + alpha * distilled


@register_kd_loss(
    "deit",
    description="DeiT hard distillation: the distillation token's head learns the teacher's argmax, "
    "the class head the labels (Touvron et al. 2021)",
    two_heads=True,
    alpha=HyperParameter(
        0.5,
        low=0.0,
        high=1.0,
        help="weight of the distillation head's term; 1 - alpha weighs the class head's",
    ),
)
def _deit(inputs: KDInputs, alpha: float) -> torch.Tensor:
    return deit_hard_kd(
        inputs.student_logits, inputs.teacher_logits, inputs.labels, alpha, inputs.student_dist_logits
    )
