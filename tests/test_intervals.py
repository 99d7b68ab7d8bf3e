"""Intervals and verdicts against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.evidence.intervals import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Interval,
    bootstrap_mean,
    paired_difference,
    t_interval,
    verdict,
)


def test_bootstrap_of_two_values_spans_both():
    # resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5 % and
    # 97.5 % quantiles are the extremes
    interval = bootstrap_mean([0.0, 1.0], seed=3)
    assert (interval.mean, interval.low, interval.high, interval.n) == (0.5, 0.0, 1.0, 2)


def test_bootstrap_of_a_binomial_case():
    # [0, 0, 0, 1]: the resampled mean is k/4 with k ~ Binomial(4, 1/4); P(k <= 2) = 0.949 and
    # P(k = 0) = 0.316, so the 95 % interval is [0, 0.75]
    interval = bootstrap_mean([0.0, 0.0, 0.0, 1.0], seed=1)
    assert interval.mean == 0.25 and interval.low == 0.0 and interval.high == 0.75


def test_bootstrap_of_a_constant_is_that_constant_and_seeded():
    interval = bootstrap_mean([0.3] * 7)
    assert interval.low == pytest.approx(0.3) and interval.high == pytest.approx(0.3)
    values = np.random.default_rng(0).normal(size=50)
    assert bootstrap_mean(values, seed=5) == bootstrap_mean(values, seed=5)
    assert bootstrap_mean(values, seed=5) != bootstrap_mean(values, seed=6)


def test_bootstrap_matches_the_normal_approximation_for_many_values():
    values = np.random.default_rng(1).normal(loc=2.0, scale=1.0, size=400)
    interval = bootstrap_mean(values, seed=0)
    half = 1.96 * values.std(ddof=1) / math.sqrt(400)
    assert interval.low == pytest.approx(values.mean() - half, abs=0.02)
    assert interval.high == pytest.approx(values.mean() + half, abs=0.02)


def test_paired_difference_drops_undefined_pairs():
    first = [1.0, 2.0, np.nan, 4.0]
    second = [0.5, 1.0, 3.0, np.nan]
    interval = paired_difference(first, second)
    assert interval.n == 2 and interval.mean == pytest.approx(0.75)
    with pytest.raises(ValueError, match="same shape"):
        paired_difference([1.0], [1.0, 2.0])


def test_t_interval_by_hand():
    interval = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2, 0.975) = 4.302653
    half = 4.302652729911275 / math.sqrt(3)
    assert interval.mean == 2.0
    assert interval.low == pytest.approx(2.0 - half, abs=1e-9)
    assert interval.high == pytest.approx(2.0 + half, abs=1e-9)
    two = t_interval([0.1, 0.3])
    assert two.mean == pytest.approx(0.2) and math.isnan(two.low) and "at least 3" in two.note
    assert t_interval([]).n == 0


def test_verdicts():
    assert verdict(Interval(0.2, 0.05, 0.3, 10, "bootstrap")) == SUPPORTED
    assert verdict(Interval(-0.2, -0.3, -0.01, 10, "bootstrap")) == NOT_SUPPORTED
    assert verdict(Interval(0.1, -0.05, 0.3, 10, "bootstrap")) == INCONCLUSIVE
    assert verdict(Interval(0.1, math.nan, math.nan, 2, "t")) == INCONCLUSIVE
    assert verdict(Interval(0.0, 0.0, 0.2, 10, "bootstrap")) == INCONCLUSIVE  # touches zero
