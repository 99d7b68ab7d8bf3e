"""The kinds of metrics row (SPEC §4), in one table: what each is computed for and how one
class-balanced subsample gives its value. :func:`engine.metrics.compute_metrics` computes every
kind of :data:`METRIC_KINDS` per tap; a new kind is one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine import stats
from engine.vocab import metric_name

__all__ = [
    "CONDITIONAL_RS",
    "FSS_PAIRS",
    "METRIC_KINDS",
    "MetricEntry",
    "MetricKind",
    "Subsample",
    "schedule",
]

FSS_PAIRS = (
    ("student", "teacher"),
    ("base", "teacher"),
    ("student", "base"),
    ("assistant", "teacher"),
    ("student", "assistant"),
)
# distilled RS(S|B), residual RS(B|S); the authors' RS(T|S) (what the student did not take) and RS(S|T)
CONDITIONAL_RS = (("student", "base"), ("base", "student"), ("teacher", "student"), ("student", "teacher"))


@dataclass(frozen=True)
class Subsample:
    """One class-balanced subsample at one row of taps: the U-centred distance matrices of each
    role's features (``u``), of the class embeddings (``label``) and of each role's last tap
    (``last``), and, for FSSv, each role's plain distances of L2-normalised rows."""

    u: dict[str, torch.Tensor]
    label: torch.Tensor
    last: dict[str, torch.Tensor]
    row_normalized: dict[str, torch.Tensor]


Subject = tuple[str, ...]  # the roles a value is about: a pair, or one role


@dataclass(frozen=True)
class MetricKind:
    """One kind of metrics row: its name for a subject and its value on one subsample."""

    name: Callable[[Subject], str]
    value: Callable[[Subsample, Subject], float]
    on_request: bool = False  # computed only when asked for (FSSv)


def _fss(s: Subsample, pair: Subject) -> float:
    return float(stats.u_correlation(s.u[pair[0]], s.u[pair[1]]))


def _fss_v(s: Subsample, pair: Subject) -> float:
    a, b = (stats.DistanceMatrix(s.row_normalized[role]) for role in pair)
    return float(stats.dcor_v(a, b))


def _rs(s: Subsample, role: Subject) -> float:
    return float(stats.u_correlation(s.u[role[0]], s.label))


def _lp(s: Subsample, role: Subject) -> float:
    return float(stats.u_correlation(s.u[role[0]], s.last[role[0]]))


def _conditional_rs(s: Subsample, pair: Subject) -> float:
    return float(stats.u_correlation(stats.complementary_projection(s.u[pair[0]], s.u[pair[1]]), s.label))


@dataclass(frozen=True)
class MetricEntry:
    """Kinds computed for the same subjects (``subjects``: those of the roles present), whose rows
    are listed together, subject by subject."""

    subjects: Callable[[Sequence[str]], list[Subject]]
    kinds: tuple[MetricKind, ...]


def _pairs(pairs: Sequence[Subject]) -> Callable[[Sequence[str]], list[Subject]]:
    return lambda roles: [pair for pair in pairs if pair[0] in roles and pair[1] in roles]


def _each_role(roles: Sequence[str]) -> list[Subject]:
    return [(role,) for role in roles]


#: The one table of metric kinds. A tap's rows come out entry by entry, subject by subject, each
#: subject's kinds in turn: FSS then FSSv of every pair, RS then LP of every role, then RS(.|.).
METRIC_KINDS: tuple[MetricEntry, ...] = (
    MetricEntry(
        _pairs(FSS_PAIRS),
        (
            MetricKind(lambda p: metric_name("FSS", *p), _fss),
            MetricKind(lambda p: metric_name("FSSv", *p), _fss_v, on_request=True),
        ),
    ),
    MetricEntry(
        _each_role,
        (MetricKind(lambda r: metric_name("RS", *r), _rs), MetricKind(lambda r: metric_name("LP", *r), _lp)),
    ),
    MetricEntry(
        _pairs(CONDITIONAL_RS), (MetricKind(lambda p: metric_name("RS", *p, sep="|"), _conditional_rs),)
    ),
)


def schedule(roles: Sequence[str], fss_v: bool) -> list[tuple[MetricKind, Subject]]:
    """(kind, subject) of every value of a tap, in the order of its rows."""
    return [
        (kind, subject)
        for entry in METRIC_KINDS
        for subject in entry.subjects(roles)
        for kind in entry.kinds
        if fss_v or not kind.on_request
    ]
