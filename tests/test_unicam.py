"""UniCAM against a literal transcription of SPEC §3, and its edge cases."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.cam import CamError, distilled_and_residual, unicam
from engine.embeddings import ClassEmbeddings
from engine.stats import TooFewSamplesError

N, CLASSES, SIZE = 8, 3, 12
LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


class _Tiny(nn.Module):
    """stem -> block (the target layer) -> pool -> fc (the feature cut)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, CLASSES)

    def forward(self, x):
        return self.fc(self.pool(self.block(self.stem(x))).flatten(1))


def _pair(seed: int) -> tuple[_Tiny, _Tiny, torch.Tensor]:
    torch.manual_seed(seed)
    student, base = _Tiny(), _Tiny()
    for model in (student, base):  # non-trivial batch-norm statistics for eval mode
        model.block[1].running_mean.uniform_(-0.2, 0.2)
        model.block[1].running_var.uniform_(0.5, 2.0)
    return student, base, torch.randn(N, 3, SIZE, SIZE)


# ---- SPEC §3, transcribed literally (broadcast distances, textbook U-centring) ----------------


def _distances(x):
    return torch.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1) + 1e-18)


def _u_centre(a):
    n = len(a)
    centred = torch.zeros_like(a)
    for i in range(n):
        for j in range(n):
            if i != j:
                centred[i, j] = (
                    a[i, j] - a[i].sum() / (n - 2) - a[:, j].sum() / (n - 2) + a.sum() / ((n - 1) * (n - 2))
                )
    return centred


def _inner(a, b):
    n = len(a)
    return (a * b).sum() / (n * (n - 3))


def _normalise(m):
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / (m.amax(dim=(1, 2), keepdim=True) + 1e-7)


def _literal_unicam(model_x, model_y, images, labels, embedding_rows, objective):
    model_x.eval(), model_y.eval()
    with torch.no_grad():
        f_y = model_y.pool(model_y.block(model_y.stem(images))).flatten(1).double()
    a = model_x.block(model_x.stem(images)).detach().requires_grad_(True)
    f_x = model_x.pool(a).flatten(1).double()
    u_x, u_y = _u_centre(_distances(f_x)), _u_centre(_distances(f_y))
    r = u_x - (_inner(u_x, u_y) / _inner(u_y, u_y)) * u_y
    if objective == "label":
        u_e = _u_centre(_distances(embedding_rows.double()))
        objective_value = _inner(r, u_e) / torch.sqrt(_inner(r, r) * _inner(u_e, u_e))
    else:
        j = r.detach().argmax(dim=1)
        objective_value = sum(r[i, j[i]] for i in range(len(r)))
    (grad,) = torch.autograd.grad(objective_value, a)
    alpha = grad.mean(dim=(2, 3))
    signed = (alpha[:, :, None, None] * a.detach()).sum(1)
    relu = signed.clamp_min(0)
    up = F.interpolate(_normalise(relu)[:, None], size=images.shape[-2:], mode="bilinear")[:, 0]
    raw = F.interpolate(relu[:, None], size=images.shape[-2:], mode="bilinear")[:, 0]
    return _normalise(up).numpy(), raw.numpy(), signed.numpy(), float(objective_value.detach())


@pytest.mark.parametrize("objective", ["label", "unique"])
@pytest.mark.parametrize("embedded", [False, True])
def test_unicam_equals_literal_spec(objective, embedded):
    student, base, images = _pair(0)
    table = torch.randn(CLASSES, 5) if embedded else torch.eye(CLASSES)
    embeddings = ClassEmbeddings(table.numpy(), source="test") if embedded else None
    ours = unicam(student, base, "block", images, LABELS, embeddings=embeddings, objective=objective)
    maps, raw, signed, value = _literal_unicam(student, base, images, LABELS, table[LABELS], objective)
    assert not ours.no_unique_features
    assert ours.maps.shape == (N, SIZE, SIZE) and ours.signed.shape == (N, SIZE // 2, SIZE // 2)
    assert float(ours.maps.max()) > 0.99 and np.abs(signed).max() > 0
    # rel 1e-7: the literal sqrt(0 + eps) = 1e-9 on the diagonal enters its row sums; stats uses 0.
    assert ours.objective == pytest.approx(value, rel=1e-7, abs=1e-12)
    scale = np.abs(signed).max()
    np.testing.assert_allclose(ours.signed, signed, atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(ours.raw, raw, atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(ours.maps, maps, atol=1e-5, rtol=0)


def test_distilled_and_residual_equal_two_unicam_calls():
    student, base, images = _pair(1)
    distilled, residual = distilled_and_residual(
        student, base, images, LABELS, layer_student="block", layer_base="block"
    )
    alone_d = unicam(student, base, "block", images, LABELS)
    alone_r = unicam(base, student, "block", images, LABELS)
    for pair, alone in ((distilled, alone_d), (residual, alone_r)):
        np.testing.assert_allclose(pair.maps, alone.maps, atol=1e-6)
        np.testing.assert_allclose(pair.signed, alone.signed, atol=1e-7)
        assert pair.objective == pytest.approx(alone.objective, rel=1e-12)
    assert not np.allclose(distilled.maps, residual.maps, atol=1e-3)


def test_identical_models_have_no_distilled_features():
    student, _, images = _pair(2)
    twin = copy.deepcopy(student)
    for result in (
        *distilled_and_residual(student, twin, images, LABELS),
        unicam(student, student, "block", images, LABELS),
    ):
        assert result.no_unique_features and result.objective == 0.0
        assert result.maps.shape == (N, SIZE, SIZE) and result.signed.shape == (N, SIZE // 2, SIZE // 2)
        assert not result.maps.any() and not result.raw.any() and not result.signed.any()
    # Different classifier weights but the same features: the projection is exactly zero.
    twin.fc.weight.data.mul_(2.0)
    result = unicam(student, twin, "block", images, LABELS, objective="unique")
    assert result.no_unique_features and not np.isnan(result.maps).any() and not result.maps.any()


def test_deterministic_per_seed_and_seed_dependent():
    first = distilled_and_residual(*_pair(3), LABELS)
    again = distilled_and_residual(*_pair(3), LABELS)
    other = distilled_and_residual(*_pair(4), LABELS)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.maps, b.maps)
        assert a.objective == b.objective
    assert not np.allclose(first[0].maps, other[0].maps, atol=1e-3)


def test_unicam_restores_state_and_leaves_no_grads():
    student, base, images = _pair(5)
    student.train()
    base.block.train(False)
    base.fc.weight.requires_grad_(False)
    distilled_and_residual(student, base, images, LABELS)
    unicam(base, student, "block", images, LABELS, objective="unique")
    assert student.training and base.training and not base.block.training and base.stem.training
    assert not base.fc.weight.requires_grad and base.fc.bias.requires_grad
    for model in (student, base):
        assert all(p.grad is None for p in model.parameters())
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_bad_context_batches_give_clear_errors():
    student, base, images = _pair(6)
    with pytest.raises(TooFewSamplesError, match="at least 4"):
        unicam(student, base, "block", images[:3], LABELS[:3])
    with pytest.raises(CamError, match="one class"):
        unicam(student, base, "block", images, torch.zeros(N, dtype=torch.int64))
    with pytest.raises(CamError, match="8 integer class indices"):
        unicam(student, base, "block", images, LABELS[:5])
    with pytest.raises(CamError, match="out of range"):
        unicam(student, base, "block", images, LABELS + 5)
    with pytest.raises(CamError, match="no class embedding"):
        unicam(student, base, "block", images, LABELS, embeddings=np.eye(2))
    with pytest.raises(CamError, match="objective"):
        unicam(student, base, "block", images, LABELS, objective="best")
    # The unique-feature objective needs no second class.
    result = unicam(student, base, "block", images, torch.zeros(N, dtype=torch.int64), objective="unique")
    assert result.maps.max() > 0.99
