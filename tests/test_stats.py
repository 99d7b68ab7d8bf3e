"""engine.stats against the `dcor` package, invariance properties, gradients and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import stats

TOL = 1e-8

SHAPES = [(4, 1), (4, 3), (5, 2), (9, 1), (12, 6), (30, 7), (64, 40)]


def _sample(rng: np.random.Generator, n: int, d: int, duplicates: bool) -> np.ndarray:
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0) + rng.normal(size=(1, d)) * 5
    if duplicates:
        x[n - 1] = x[0]
        if n > 5:
            x[2] = x[1]
    return x


def _cases():
    rng = np.random.default_rng(1234)
    for n, d in SHAPES:
        for duplicates in (False, True):
            yield pytest.param(rng.integers(1 << 30), n, d, duplicates, id=f"n{n}-d{d}-dup{duplicates}")


@pytest.mark.parametrize(("seed", "n", "d", "duplicates"), list(_cases()))
def test_agrees_with_dcor(dcor, seed, n, d, duplicates):
    rng = np.random.default_rng(seed)
    x = _sample(rng, n, d, duplicates)
    y = np.tanh(x[:, :1]) + 0.5 * _sample(rng, n, 3, duplicates)
    z = _sample(rng, n, 2, duplicates) + x[:, -1:] ** 2

    a_ref = dcor.distances.pairwise_distances(x)
    a_ours = stats.pairwise_distances(x)
    np.testing.assert_allclose(a_ours.numpy(), a_ref, atol=1e-9)

    np.testing.assert_allclose(stats.u_centered(a_ref).numpy(), dcor.u_centered(a_ref), atol=TOL)

    assert float(stats.dcor_u(x, y)) == pytest.approx(dcor.u_distance_correlation_sqr(x, y), abs=TOL)
    assert float(stats.dcor_u(x, z)) == pytest.approx(dcor.u_distance_correlation_sqr(x, z), abs=TOL)

    ua = dcor.u_centered(a_ref)
    ub = dcor.u_centered(dcor.distances.pairwise_distances(y))
    uc = dcor.u_centered(dcor.distances.pairwise_distances(z))

    ours_partial = float(stats.partial_dcor(x, z, y))
    if math.isnan(ours_partial):
        # Undefined (x or z holds nothing beyond y): dcor reports 0 there, we report n/a.
        px, pz = (dcor.u_complementary_projection(ub)(m) for m in (ua, uc))
        assert dcor.u_product(px, px) * dcor.u_product(pz, pz) < 1e-20
    else:
        assert ours_partial == pytest.approx(dcor.partial_distance_correlation(x, z, y), abs=TOL)
    ref_projection = dcor.u_complementary_projection(ub)(ua)
    ours_projection = stats.complementary_projection(ua, ub).numpy()
    np.testing.assert_allclose(ours_projection, ref_projection, atol=TOL)

    uy = stats.u_centered(stats.pairwise_distances(y))
    assert float(stats.u_correlation(stats.u_centered(a_ours), uy)) == pytest.approx(
        dcor.u_distance_correlation_sqr(x, y), abs=TOL
    )

    # The V-statistic option against dcor's (biased) distance_correlation_sqr.
    assert float(stats.dcor_v(x, y)) == pytest.approx(dcor.distance_correlation_sqr(x, y), abs=TOL)


@pytest.mark.parametrize("offset", [0.0, 0.3, 1e3])
def test_both_centring_paths_agree_with_dcor(dcor, offset):
    """Small offsets centre the Gram matrix, large ones the features; both must match dcor."""
    rng = np.random.default_rng(17)
    x = rng.normal(size=(24, 300)) + offset
    y = rng.normal(size=(24, 5)) + x[:, :5] - offset
    x[7] = x[3]
    assert float(stats.dcor_u(x, y)) == pytest.approx(dcor.u_distance_correlation_sqr(x, y), abs=TOL)
    np.testing.assert_allclose(
        stats.pairwise_distances(x).numpy(), dcor.distances.pairwise_distances(x), atol=1e-9, rtol=1e-12
    )


def test_semi_partial_identity_against_dcor_pieces(dcor):
    rng = np.random.default_rng(7)
    x, y, z = (rng.normal(size=(40, k)) for k in (5, 3, 2))
    y = y + x[:, :3]
    z = z + x[:, 3:]
    r_xz, r_xy, r_yz = (dcor.u_distance_correlation_sqr(*p) for p in ((x, z), (x, y), (y, z)))
    expected = (r_xz - r_xy * r_yz) / math.sqrt(1 - r_xy**2)
    assert float(stats.semi_partial_dcor(x, y, z)) == pytest.approx(expected, abs=TOL)
    full = (r_xz - r_xy * r_yz) / math.sqrt((1 - r_xy**2) * (1 - r_yz**2))
    assert float(stats.partial_dcor(x, z, y)) == pytest.approx(full, abs=TOL)


def test_v_statistic_row_normalisation(dcor):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 6)), rng.normal(size=(20, 4))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    ours = float(stats.dcor_v(x, y, row_normalize=True))
    assert ours == pytest.approx(dcor.distance_correlation_sqr(xn, yn), abs=TOL)
    assert ours != pytest.approx(float(stats.dcor_v(x, y)), abs=1e-6)


# --- properties --------------------------------------------------------------------------


def _features(n_min=4, n_max=24, d_max=6):
    return st.tuples(st.integers(n_min, n_max), st.integers(1, d_max), st.integers(0, 2**31 - 1)).map(
        lambda t: np.random.default_rng(t[2]).normal(size=(t[0], t[1]))
    )


@settings(max_examples=40, deadline=None)
@given(_features())
def test_self_correlation_is_one(x):
    assert float(stats.dcor_u(x, x)) == pytest.approx(1.0, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(_features())
def test_projection_onto_itself_is_zero(x):
    ux = stats.u_centered(stats.pairwise_distances(x))
    assert float(stats.complementary_projection(ux, ux).abs().max()) <= 1e-12


@settings(max_examples=40, deadline=None)
@given(_features(n_min=5), st.integers(0, 2**31 - 1), st.floats(0.01, 100.0))
def test_invariant_to_translation_rotation_and_scale(x, seed, scale):
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    y = rng.normal(size=(x.shape[0], 2)) + x[:, :1]
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    moved = scale * x @ rotation + rng.normal(size=(1, d)) * 10
    assert float(stats.dcor_u(moved, y)) == pytest.approx(float(stats.dcor_u(x, y)), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(_features(n_min=6), st.integers(0, 2**31 - 1))
def test_semi_partial_identity(x, seed):
    rng = np.random.default_rng(seed)
    y = x[:, :1] ** 2 + rng.normal(size=(x.shape[0], 2))
    z = x[:, -1:] + 0.3 * rng.normal(size=(x.shape[0], 1))
    r_xz, r_xy, r_yz = (float(stats.dcor_u(*p)) for p in ((x, z), (x, y), (y, z)))
    expected = (r_xz - r_xy * r_yz) / math.sqrt(1 - r_xy**2)
    assert float(stats.semi_partial_dcor(x, y, z)) == pytest.approx(expected, abs=1e-9)


# --- gradients ---------------------------------------------------------------------------


def test_gradients_finite_with_duplicate_rows():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float64)
    x[4] = x[0]
    x[5] = x[0]
    y = torch.tensor(rng.normal(size=(6, 2)), dtype=torch.float64)
    z = torch.tensor(rng.normal(size=(6, 2)), dtype=torch.float64)
    x.requires_grad_(True)
    y.requires_grad_(True)

    for fn in (
        lambda a, b: stats.dcor_u(a, b),
        lambda a, b: stats.semi_partial_dcor(a, b, z),
        lambda a, b: stats.partial_dcor(a, z, b),
        lambda a, b: stats.dcor_v(a, b),
    ):
        out = fn(x, y)
        (gx, gy) = torch.autograd.grad(out, (x, y))
        assert torch.isfinite(gx).all() and torch.isfinite(gy).all()
        assert torch.autograd.gradcheck(fn, (x, y), eps=1e-5, atol=1e-5, rtol=1e-3)


# --- chunked path ------------------------------------------------------------------------


def test_chunked_equals_one_shot():
    rng = np.random.default_rng(11)
    x = torch.tensor(rng.normal(size=(32, 1000)) + 3.0)
    y = torch.tensor(rng.normal(size=(32, 777)))
    y[:, :50] += x[:, :50]
    one_shot = stats.pairwise_distances(x)
    chunked = stats.distances_from_chunks(torch.split(x, 128, dim=1), n=32)
    torch.testing.assert_close(chunked.values, one_shot, atol=1e-10, rtol=0)

    acc = stats.SquaredDistanceAccumulator(32, name="y")
    for block in torch.split(y, 100, dim=1):
        acc.add(block.to(torch.float32))  # float32 blocks are promoted while added
    assert acc.columns == 777
    dist_y = acc.distances()
    assert float(stats.dcor_u(chunked, dist_y)) == pytest.approx(
        float(stats.dcor_u(x, y.to(torch.float32).to(torch.float64))), abs=1e-10
    )
    assert float(stats.semi_partial_dcor(chunked, dist_y, x[:, :3])) == pytest.approx(
        float(stats.semi_partial_dcor(x, y.to(torch.float32).to(torch.float64), x[:, :3])),
        abs=1e-10,
    )


# --- bad and degenerate input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: stats.dcor_u(np.ones((3, 2)), np.ones((3, 2))), stats.TooFewSamplesError, "at least 4"),
        (lambda: stats.u_centered(np.zeros((2, 2))), stats.TooFewSamplesError, "at least 4"),
        (lambda: stats.SquaredDistanceAccumulator(3), stats.TooFewSamplesError, "at least 4"),
        (
            lambda: stats.dcor_u(np.random.rand(5, 2), np.random.rand(6, 2)),
            stats.SampleCountMismatchError,
            "same images",
        ),
        (
            lambda: stats.semi_partial_dcor(np.random.rand(5, 2), np.random.rand(5, 2), np.random.rand(7, 1)),
            stats.SampleCountMismatchError,
            "z: 7",
        ),
        (
            lambda: stats.dcor_u(np.array([[0.0], [1.0], [np.nan], [2.0]]), np.random.rand(4, 1)),
            stats.NonFiniteInputError,
            "NaN or infinite",
        ),
        (
            lambda: stats.pairwise_distances(np.full((5, 2), np.inf)),
            stats.NonFiniteInputError,
            "finite",
        ),
        (
            lambda: stats.dcor_u(np.random.rand(5, 2, 2), np.random.rand(5, 2)),
            stats.DimensionError,
            "Flatten",
        ),
        (lambda: stats.dcor_u(np.float64(3.0), np.random.rand(5, 2)), stats.DimensionError, "2-D"),
        (lambda: stats.u_centered(np.random.rand(5, 4)), stats.DimensionError, "square"),
        (
            lambda: stats.u_inner(np.random.rand(5, 5), np.random.rand(6, 6)),
            stats.SampleCountMismatchError,
            "rows",
        ),
        (lambda: stats.SquaredDistanceAccumulator(5).distances(), stats.DimensionError, "No feature columns"),
        (
            lambda: stats.SquaredDistanceAccumulator(5).add(np.ones((4, 3))),
            stats.SampleCountMismatchError,
            "block: 4",
        ),
    ],
)
def test_bad_input_names_the_problem(call, error, words):
    with pytest.raises(error, match=words):
        call()
    assert issubclass(error, stats.StatsInputError)


def test_degenerate_input_gives_nan_not_inf_or_zero():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 3))
    constant = np.full((10, 4), 2.5)
    for value in (
        stats.dcor_u(constant, x),
        stats.dcor_u(x, constant),
        stats.dcor_v(constant, x),
        stats.semi_partial_dcor(x, x, rng.normal(size=(10, 2))),  # X has nothing beyond Y
        stats.semi_partial_dcor(x, rng.normal(size=(10, 2)), constant),
        stats.partial_dcor(x, x, x),
    ):
        assert math.isnan(float(value))
    # Removing a constant set removes nothing: the semi-partial score equals R*(X, Z).
    z = x[:, :1] + rng.normal(size=(10, 1))
    assert float(stats.semi_partial_dcor(x, constant, z)) == pytest.approx(float(stats.dcor_u(x, z)))


def test_float32_inputs_are_computed_in_float64_and_stay_differentiable():
    x = torch.randn(8, 5, dtype=torch.float32, requires_grad=True)
    y = torch.randn(8, 2, dtype=torch.float32)
    r = stats.dcor_u(x, y)
    assert r.dtype == torch.float64
    r.backward()
    assert x.grad is not None and x.grad.dtype == torch.float32


def test_statistics_from_shared_sums_equal_the_public_ones_bit_for_bit():
    """What FSS/RS shares between the values of one subsample (each sum of A_ij B_ij, the checks
    skipped on sub-matrices of a checked matrix) changes no bit."""
    gen = torch.Generator().manual_seed(11)
    a, b = (stats.u_centered(stats.pairwise_distances(torch.randn(9, 4, generator=gen))) for _ in range(2))
    sums = {"ab": (a * b).sum(), "aa": (a * a).sum(), "bb": (b * b).sum()}
    assert torch.equal(
        stats.correlation_from_sums(sums["ab"], sums["aa"], sums["bb"], 9), stats.u_correlation(a, b)
    )
    assert torch.equal(
        stats.projection_from_sums(a, b, sums["ab"], sums["bb"]), stats.complementary_projection(a, b)
    )
    assert stats.correlation_from_sums(sums["ab"], sums["aa"] * 0, sums["bb"], 9).isnan()
    distances = stats.pairwise_distances(torch.randn(7, 3, generator=gen))
    assert torch.equal(stats.u_centered(distances, check=False), stats.u_centered(distances))


def test_one_gram_product_per_block_whichever_centring():
    """The centring is chosen from the rows' norms before the product, so a block whose common
    offset dominates (features after a ReLU) costs one n x n Gram product, not two."""
    from torch.overrides import TorchFunctionMode

    from engine.stats.distances import squared_distances

    class GramProducts(TorchFunctionMode):
        count = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            matmul = getattr(func, "__name__", "") in ("matmul", "__matmul__", "mm")
            if matmul and all(isinstance(a, torch.Tensor) and a.ndim == 2 for a in args):
                GramProducts.count += 1
            return func(*args, **(kwargs or {}))

    gen = torch.Generator().manual_seed(5)
    spread = torch.randn(12, 30, generator=gen, dtype=torch.float64)
    for x in (spread, spread.relu() + 10.0):  # offset below, then far above the spread
        GramProducts.count = 0
        with GramProducts():
            d2 = squared_distances(x, "x")
        assert GramProducts.count == 1
        torch.testing.assert_close(d2, torch.cdist(x, x).square(), atol=1e-9, rtol=1e-9)
