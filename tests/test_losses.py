"""KD losses against their formulas written out independently, and their edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.errors import KDLensError
from engine.losses import (
    KD_LOSSES,
    KDInputs,
    UnknownLossError,
    attention_transfer,
    authors_kd,
    get_kd_loss,
    hinton_kd,
)


def _logits(seed: int, n: int = 8, k: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, k, generator=g) * 3,
        torch.randn(n, k, generator=g) * 3,
        torch.randint(0, k, (n,), generator=g),
    )


def _reference_hinton(s, t, y, temperature, alpha):
    """The textbook form, per image: sum_c p_t log(p_t / p_s) at temperature T, averaged."""
    p_t = torch.softmax(t / temperature, 1)
    p_s = torch.softmax(s / temperature, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    ce = -torch.log_softmax(s, 1)[torch.arange(len(y)), y].mean()
    return (1 - alpha) * ce + alpha * temperature**2 * kl


@pytest.mark.parametrize("temperature,alpha", [(4.0, 0.9), (1.0, 0.5), (8.0, 0.0)])
def test_hinton_matches_the_written_out_formula(temperature, alpha):
    s, t, y = _logits(1)
    got = hinton_kd(s, t, y, temperature, alpha)
    want = _reference_hinton(s.double(), t.double(), y, temperature, alpha)
    assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_hinton_with_alpha_zero_is_cross_entropy_and_zero_when_teacher_equals_student():
    s, t, y = _logits(2)
    assert float(hinton_kd(s, t, y, 4.0, 0.0)) == pytest.approx(float(F.cross_entropy(s, y)), rel=1e-6)
    assert float(hinton_kd(s, s, y, 4.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_authors_preset_is_point_seven_ce_plus_point_three_t2_mse():
    s, t, y = _logits(3)
    p_s, p_t = torch.softmax(s / 20, 1), torch.softmax(t / 20, 1)
    want = 0.7 * F.cross_entropy(s, y) + 0.3 * 400 * ((p_s - p_t) ** 2).mean()
    assert float(authors_kd(s, t, y)) == pytest.approx(float(want), rel=1e-6)
    assert get_kd_loss("authors").defaults()["temperature"] == 20.0
    assert get_kd_loss("hinton").defaults() == {"temperature": 4.0, "alpha": 0.9}
    assert get_kd_loss("attention").defaults() == {"beta": 1000.0}


def test_kd_gradient_does_not_reach_the_teacher():
    s, t, y = _logits(4)
    s.requires_grad_(True)
    t.requires_grad_(True)
    hinton_kd(s, t, y).backward()
    assert s.grad is not None and float(s.grad.abs().sum()) > 0
    assert t.grad is None


def test_attention_transfer_zero_for_equal_maps_and_scale_free():
    g = torch.Generator().manual_seed(5)
    f = [torch.randn(4, 8, 6, 6, generator=g), torch.randn(4, 16, 3, 3, generator=g)]
    assert float(attention_transfer(f, f)) == pytest.approx(0.0, abs=1e-6)
    # q = normalised channel mean of squares: a global scale of the features changes nothing
    assert float(attention_transfer([x * 3 for x in f], f)) == pytest.approx(0.0, abs=1e-5)
    other = [torch.randn(4, 32, 6, 6, generator=g), torch.randn(4, 4, 3, 3, generator=g)]
    value = float(attention_transfer(f, other, beta=2.0))
    a = [F.normalize(x.pow(2).mean(1).flatten(1), dim=1) for x in f]
    b = [F.normalize(x.pow(2).mean(1).flatten(1), dim=1) for x in other]
    want = sum(float((p - q).pow(2).sum(1).mean()) for p, q in zip(a, b, strict=True))
    assert value == pytest.approx(want, rel=1e-5)


def test_attention_transfer_pools_mismatched_sizes_and_rejects_unmatched_stages():
    g = torch.Generator().manual_seed(6)
    s = [torch.randn(2, 4, 8, 8, generator=g)]
    t = [torch.randn(2, 4, 4, 4, generator=g)]
    assert math.isfinite(float(attention_transfer(s, t)))
    with pytest.raises(KDLensError, match="stages"):
        attention_transfer(s, t + t)


def test_registry_lookup_and_unknown_name():
    assert set(KD_LOSSES) == {"hinton", "authors", "attention", "deit"}
    loss = get_kd_loss("attention")
    assert loss.needs_features and not get_kd_loss("hinton").needs_features
    s, t, y = _logits(7)
    g = torch.Generator().manual_seed(8)
    f = [torch.randn(8, 4, 4, 4, generator=g)]
    value = loss.function(KDInputs(s, t, y, f, f), **loss.resolve())
    assert float(value) == pytest.approx(float(F.cross_entropy(s, y)), rel=1e-5)
    with pytest.raises(UnknownLossError, match="hinton"):
        get_kd_loss("fitnets")


def test_a_registered_toy_loss_trains_a_step_with_no_other_file_touched(tmp_path, monkeypatch):
    """Adding a loss is one function and its registration: config, loop and lists follow."""
    from dataclasses import replace

    from engine.events import EpochSummary
    from engine.jobs.demo import demo_config
    from engine.jobs.train import train_job
    from engine.losses import HyperParameter, register_kd_loss
    from engine.training.config import KDConfig, RoleConfig

    monkeypatch.setattr("engine.losses.KD_LOSSES", dict(KD_LOSSES))  # leave the registry as it was
    seen = []

    @register_kd_loss("toy_l2", description="CE + gamma * logit gap²", gamma=HyperParameter(0.5, low=0))
    def toy(inputs: KDInputs, gamma: float) -> torch.Tensor:
        seen.append(gamma)
        gap = (inputs.student_logits - inputs.teacher_logits.detach()).pow(2).mean()
        return F.cross_entropy(inputs.student_logits, inputs.labels) + gamma * gap

    import engine.losses as losses

    assert "toy_l2" in losses.KD_LOSSES and get_kd_loss("toy_l2").defaults() == {"gamma": 0.5}
    config = replace(
        demo_config("kd-gain", quick=True),
        teacher=RoleConfig("small_cnn", epochs=1, max_steps=1),
        base=RoleConfig("small_cnn", epochs=1, max_steps=1),
        student=RoleConfig("small_cnn", epochs=1, max_steps=1),
        kd=KDConfig.from_dict({"loss": "toy_l2", "params": {"gamma": 0.25}}),
        probe=False,
        metrics=False,
    )
    events = list(train_job(config, tmp_path / "toy"))
    student = [e for e in events if isinstance(e, EpochSummary) and e.role == "student"]
    assert len(student) == 1 and math.isfinite(student[0].train_loss)
    assert seen == [0.25]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"temperature": 0.0}, "temperature = 0.0 is out of range; it must be > 0"),
        ({"temperature": -2}, "out of range"),
        ({"alpha": 1.5}, "alpha = 1.5 is out of range; it must be >= 0 and <= 1"),
        ({"alpha": float("nan")}, "out of range"),
        ({"alpha": "0.5"}, "must be a number"),
        ({"beta": 10.0}, "has no hyper-parameter 'beta'; its hyper-parameters are: temperature, alpha"),
    ],
)
def test_hyperparameters_are_checked_against_the_registry(params, words):
    from engine.losses import LossConfigError

    with pytest.raises(LossConfigError, match=words.replace("(", r"\(")):
        get_kd_loss("hinton").resolve(params)


def test_config_of_an_earlier_run_folder_still_reads():
    """Run folders written before the registry stored flat temperature/alpha/beta fields."""
    from engine.training.config import KDConfig, TrainConfig

    old = TrainConfig().to_dict()
    old["kd"] = {"loss": "hinton", "temperature": 3.0, "alpha": 0.5, "beta": None}
    config = TrainConfig.from_dict(old)
    assert config.kd == KDConfig("hinton", {"temperature": 3.0, "alpha": 0.5})
    assert config.kd.resolved() == {"temperature": 3.0, "alpha": 0.5}
    old["kd"] = {"loss": "attention", "temperature": 4.0, "alpha": 0.9, "beta": 100.0}
    assert TrainConfig.from_dict(old).kd.resolved() == {"beta": 100.0}
    assert TrainConfig.from_json(config.to_json()) == config
