"""The one class-balanced sampler (engine.data.sampling): its three samplers give, bit for bit,
what they gave before they shared one module (outputs pinned from the code of commit eee3cc3,
when ``balanced_indices`` / ``context_batches`` lived in data/imageset.py and
``balanced_subsamples`` in metrics.py), so probe sets, metrics sets, context batches and the
metrics' subsamples of existing runs stay the same."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import imageset
from engine.data.errors import DataError
from engine.data.sampling import (
    balanced_indices,
    balanced_subsamples,
    class_pools,
    context_batches,
    interleave,
)

SKEWED = [0] * 9 + [1] * 3 + [2] * 6 + [3] * 2
MIXED = [2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2, 0, 2, 1, 1]


def test_balanced_indices_as_before():
    assert balanced_indices(SKEWED, 12, 3).tolist() == [7, 10, 16, 18, 0, 9, 15, 19, 2, 11, 12, 17]
    assert balanced_indices(MIXED, 7, 11, exclude=[0, 5]).tolist() == [4, 7, 6, 12, 15, 13, 14]
    assert balanced_indices(SKEWED, 0, 3).dtype == np.int64


def test_context_batches_as_before():
    assert [b.tolist() for b in context_batches(SKEWED, 8, 2)] == [
        [1, 2, 7, 9, 10, 11, 12, 16, 18, 19],
        [0, 3, 4, 5, 6, 8, 13, 14, 15, 17],
    ]
    assert [b.tolist() for b in context_batches(MIXED, 4, 5)] == [
        [1, 9, 10, 12, 15],
        [0, 4, 5, 8, 13],
        [2, 3, 6, 7, 11, 14],
    ]


def test_balanced_subsamples_as_before():
    assert [d.tolist() for d in balanced_subsamples(np.array(SKEWED), 10, 2, 4)] == [
        [0, 1, 9, 10, 11, 14, 15, 17, 18, 19],
        [1, 2, 3, 9, 10, 11, 13, 16, 18, 19],
    ]
    assert [d.tolist() for d in balanced_subsamples(np.array(MIXED), 12, 3, 0)] == [
        [0, 1, 2, 3, 6, 7, 8, 9, 11, 12, 13, 14],
        [0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15],
        [0, 1, 3, 4, 6, 7, 8, 10, 11, 12, 13, 15],
    ]


def test_one_primitive_pools_then_interleaves():
    rng = np.random.default_rng(0)
    pools = class_pools(np.array([1, 0, 1, 1, 0]), rng)
    assert [sorted(p.tolist()) for p in pools] == [[1, 4], [0, 2, 3]]
    assert list(interleave([[1, 2, 3], [4], [5, 6]])) == [1, 4, 5, 2, 6, 3]
    shuffled = list(interleave([[1, 2, 3], [4], [5, 6]], shuffle=np.random.default_rng(1)))
    assert sorted(shuffled[:3]) == [1, 4, 5] and sorted(shuffled[3:5]) == [2, 6]


def test_where_they_were_imported_they_still_are():
    assert imageset.balanced_indices is balanced_indices
    assert imageset.context_batches is context_batches
    assert imageset.DataError is DataError
    with pytest.raises(DataError, match="at least 4 images"):
        context_batches(SKEWED, 3)
