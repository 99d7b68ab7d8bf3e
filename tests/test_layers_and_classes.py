"""The layer x layer map and the per-class evidence (SPEC §11) against plain computations:
linear CKA (debiased) against the formula written out here, the aligned R* cells against the
per-layer FSS, the one-vs-rest RS's closed forms against the plain U-centring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import stats
from engine.evidence.classes import indicator_products, one_vs_rest
from engine.evidence.context import MetricsMatrices
from engine.evidence.layers import layer_map
from engine.metric_kinds import summarize


def _debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA from the unbiased HSIC estimator (Song et al. 2012), written out from its formula:
    HSIC_1(K, L) = [tr(K~L~) + 1ᵀK~1 1ᵀL~1 / ((n-1)(n-2)) - 2/(n-2) 1ᵀK~L~1] / (n(n-3)), K~ = K with
    a zero diagonal; CKA = HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L))."""

    def hsic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741 (the formula's name)
        n = len(k)
        k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
        ones = np.ones(n)
        value = np.trace(k @ l) + ones @ k @ ones * (ones @ l @ ones) / ((n - 1) * (n - 2))
        return (value - 2 / (n - 2) * ones @ k @ l @ ones) / (n * (n - 3))

    k, l = x @ x.T, y @ y.T  # noqa: E741
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def _matrices(features: dict[str, dict[str, np.ndarray]], labels: np.ndarray, draws) -> MetricsMatrices:
    distances = {
        role: {
            tap: stats.DistanceMatrix(stats.pairwise_distances(torch.from_numpy(f)))
            for tap, f in taps.items()
        }
        for role, taps in features.items()
    }
    return MetricsMatrices(distances, {r: list(t) for r, t in features.items()}, labels, draws)


def test_the_layer_maps_cka_is_debiased_linear_cka_and_its_aligned_cells_are_fss():
    rng = np.random.default_rng(0)
    n = 40
    base = rng.normal(size=(n, 6))
    features = {
        "teacher": {"a": base @ rng.normal(size=(6, 9)), "b": np.tanh(base @ rng.normal(size=(6, 5)))},
        "student": {
            "a": base @ rng.normal(size=(6, 7)) + rng.normal(size=(n, 7)),
            "b": rng.normal(size=(n, 4)),
        },
    }
    draws = [torch.as_tensor(np.sort(rng.choice(n, 30, replace=False))) for _ in range(3)]
    rows = layer_map(_matrices(features, np.arange(n) % 4, draws), ["teacher", "student"])
    cell = {(r["pair"], r["row"], r["column"], r["measure"]): r for r in rows}
    for row in ("a", "b"):
        for column in ("a", "b"):
            expected = [
                _debiased_cka(features["teacher"][row][ix.numpy()], features["student"][column][ix.numpy()])
                for ix in draws
            ]
            assert cell["T x S", row, column, "CKA"]["mean"] == pytest.approx(np.mean(expected), abs=2e-6)
            fss = [
                float(
                    stats.dcor_u(
                        features["teacher"][row][ix.numpy()], features["student"][column][ix.numpy()]
                    )
                )
                for ix in draws
            ]
            assert cell["T x S", row, column, "R*"]["mean"] == pytest.approx(summarize(fss)[0], abs=2e-6)


def test_indicator_products_equal_the_plain_u_centring():
    rng = np.random.default_rng(1)
    n = 17
    labels = rng.integers(0, 4, n)
    other = stats.u_centered(stats.pairwise_distances(torch.from_numpy(rng.normal(size=(n, 5)))))
    for c in range(4):
        members = labels == c
        indicator = stats.u_centered(
            stats.pairwise_distances(torch.from_numpy(members[:, None].astype(float)))
        )
        at = torch.as_tensor(np.flatnonzero(members))
        cross, own = indicator_products(float(other[at][:, at].sum()), n, int(members.sum()))
        assert cross == pytest.approx(float((indicator * other).sum()), rel=1e-8)  # eps: sqrt(0 + 1e-18)
        assert own == pytest.approx(float((indicator * indicator).sum()), rel=1e-8)


def test_one_vs_rest_rs_equals_r_star_and_the_semi_partial_with_the_class_indicator():
    rng = np.random.default_rng(2)
    n = 36
    labels = np.arange(n) % 3
    student = rng.normal(size=(n, 6)) + labels[:, None] * 0.8
    base = rng.normal(size=(n, 6)) + (labels == 0)[:, None]
    draws = [torch.as_tensor(np.sort(rng.choice(n, 27, replace=False))) for _ in range(4)]
    matrices = _matrices({"student": {"x": student}, "base": {"x": base}}, labels, draws)
    values = one_vs_rest(matrices, np.arange(3))
    for c in range(3):
        expected = {"rs_student": [], "rs_student_given_base": [], "rs_base_given_student": []}
        for ix in draws:
            i = ix.numpy()
            e = (labels[i] == c)[:, None].astype(float)
            expected["rs_student"].append(float(stats.dcor_u(student[i], e)))
            expected["rs_student_given_base"].append(float(stats.semi_partial_dcor(student[i], base[i], e)))
            expected["rs_base_given_student"].append(float(stats.semi_partial_dcor(base[i], student[i], e)))
        for name, want in expected.items():
            np.testing.assert_allclose(values[c][name], want, atol=1e-9, err_msg=f"{name} class {c}")
