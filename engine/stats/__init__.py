"""Distance-correlation statistics (SPEC §2): ``from engine import stats; stats.dcor_u(x, y)``.

``inputs`` holds the checks and named errors, ``distances`` the Gram-form distances (whole or
in column blocks), ``dcor`` the U-centred statistics built on them.
"""

from engine.stats.dcor import (
    complementary_projection,
    correlation_from_sums,
    dcor_u,
    dcor_v,
    partial_dcor,
    projection_from_sums,
    semi_partial_dcor,
    u_centered,
    u_correlation,
    u_inner,
)
from engine.stats.distances import SquaredDistanceAccumulator, distances_from_chunks, pairwise_distances
from engine.stats.inputs import (
    MIN_SAMPLES,
    DimensionError,
    DistanceMatrix,
    NonFiniteInputError,
    SampleCountMismatchError,
    StatsInputError,
    TooFewSamplesError,
    default_eps,
)

__all__ = [
    "MIN_SAMPLES", "DimensionError", "DistanceMatrix", "NonFiniteInputError", "SampleCountMismatchError",
    "SquaredDistanceAccumulator", "StatsInputError", "TooFewSamplesError", "complementary_projection",
    "correlation_from_sums", "dcor_u", "dcor_v", "default_eps", "distances_from_chunks", "pairwise_distances",
    "partial_dcor", "projection_from_sums", "semi_partial_dcor", "u_centered", "u_correlation", "u_inner",
]  # fmt: skip
