"""The kinds of metrics row (SPEC §4), in one table: what each is computed for and how one
class-balanced subsample gives its value; and :func:`metric_rows`, which computes every kind of
:data:`METRIC_KINDS` per row of taps over the subsamples. A new kind is one more entry here.

The statistics run wherever the distance matrices are (the host, or the GPU of
:mod:`engine.metrics_plan`), in float64; every value comes back as a plain float. Each N x N
matrix is checked once, each subsample's U-centred matrices are made once per subsample, and each
sum of A_ij B_ij is computed once per subsample and shared by the kinds that need it, with the
very operations the public statistics use, so the values are theirs bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from engine import stats
from engine.events import MetricsRow
from engine.stats.inputs import check_finite
from engine.vocab import metric_name

__all__ = [
    "CONDITIONAL_RS",
    "FSS_PAIRS",
    "METRIC_KINDS",
    "MetricEntry",
    "MetricKind",
    "Subsample",
    "align_taps",
    "metric_rows",
    "schedule",
    "summarize",
]

ROW_NORMALIZED = "|rownorm"  # the distances of a tap's L2-normalised rows (for FSSv)

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
    (``last``), and, for FSSv, each role's plain distances of L2-normalised rows. ``sum`` gives
    the sum of the products of two of its U-centred matrices, each computed once."""

    u: dict[str, torch.Tensor]
    label: torch.Tensor
    last: dict[str, torch.Tensor]
    row_normalized: dict[str, torch.Tensor]
    sums: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)

    def matrix(self, key: str) -> torch.Tensor:
        """``"label"``, ``"<role>"`` (this row's tap) or ``"last:<role>"``."""
        if key == "label":
            return self.label
        if key.startswith("last:"):
            return self.last[key[5:]]
        return self.u[key]

    def sum(self, a: str, b: str) -> torch.Tensor:
        """sum_ij A_ij B_ij of the matrices named ``a`` and ``b`` (see :meth:`matrix`)."""
        key = (a, b) if a <= b else (b, a)
        if key not in self.sums:
            self.sums[key] = (self.matrix(a) * self.matrix(b)).sum()
        return self.sums[key]

    def correlation(self, a: str, b: str) -> float:
        """R* of the matrices named ``a`` and ``b``."""
        n = self.label.shape[0]
        return float(stats.correlation_from_sums(self.sum(a, b), self.sum(a, a), self.sum(b, b), n))


Subject = tuple[str, ...]  # the roles a value is about: a pair, or one role


@dataclass(frozen=True)
class MetricKind:
    """One kind of metrics row: its name for a subject and its value on one subsample."""

    name: Callable[[Subject], str]
    value: Callable[[Subsample, Subject], float]
    on_request: bool = False  # computed only when asked for (FSSv)


def _fss(s: Subsample, pair: Subject) -> float:
    return s.correlation(pair[0], pair[1])


def _fss_v(s: Subsample, pair: Subject) -> float:
    a, b = (stats.DistanceMatrix(s.row_normalized[role]) for role in pair)
    return float(stats.dcor_v(a, b))


def _rs(s: Subsample, role: Subject) -> float:
    return s.correlation(role[0], "label")


def _lp(s: Subsample, role: Subject) -> float:
    return s.correlation(role[0], f"last:{role[0]}")


def _conditional_rs(s: Subsample, pair: Subject) -> float:
    x, y = pair
    projected = stats.projection_from_sums(s.u[x], s.u[y], s.sum(x, y), s.sum(y, y))
    n = s.label.shape[0]
    ab, aa = (projected * s.label).sum(), (projected * projected).sum()
    return float(stats.correlation_from_sums(ab, aa, s.sum("label", "label"), n))


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


def align_taps(taps: Mapping[str, Sequence[str]], roles: Sequence[str]) -> list[dict[str, str]]:
    """Row i maps each role to its i-th tap; roles with fewer taps are matched by relative depth."""
    count = max(len(taps[r]) for r in roles)
    rows = []
    for i in range(count):
        row = {}
        for role in roles:
            names = list(taps[role])
            row[role] = names[min(len(names) - 1, round((i + 1) * len(names) / count) - 1)]
        rows.append(row)
    return rows


def metric_rows(
    distances: Mapping[str, Mapping[str, stats.DistanceMatrix]],
    label_distances: torch.Tensor,
    draws: Sequence[torch.Tensor],
    taps: Mapping[str, Sequence[str]],
    roles: list[str],
    *,
    fss_v: bool,
    epoch: int,
    size: int,
) -> list[MetricsRow]:
    """Per row of aligned taps, every scheduled kind's value on each subsample (``draws``: index
    tensors on the matrices' device), summarised as mean and 5-95 % band.

    Subsample by subsample, the label's and each role's last tap's U-centred matrices are made
    once and shared by every row of taps, so besides the N x N matrices only one subsample's
    matrices are held at a time."""
    for matrix in [label_distances, *(m.values for by_tap in distances.values() for m in by_tap.values())]:
        check_finite(matrix, "a distance matrix")  # once each; the subsamples skip the checks
    last_tap = {role: list(taps[role])[-1] for role in roles}
    tap_rows, kinds = align_taps(taps, roles), schedule(roles, fss_v)
    values: list[dict[str, list[float]]] = [{} for _ in tap_rows]
    for ix in draws:
        label = _u_sub(label_distances, ix)
        last = {r: _u_sub(distances[r][last_tap[r]].values, ix) for r in roles}
        for tap_row, row_values in zip(tap_rows, values, strict=True):
            sample = Subsample(
                u={r: last[r] if tap_row[r] == last_tap[r] else _u_sub(distances[r][tap_row[r]].values, ix)
                   for r in roles},
                label=label,
                last=last,
                row_normalized={
                    r: _sub(distances[r][tap_row[r] + ROW_NORMALIZED].values, ix) for r in roles if fss_v
                },
            )  # fmt: skip
            for kind, subject in kinds:
                row_values.setdefault(kind.name(subject), []).append(kind.value(sample, subject))
    rows: list[MetricsRow] = []
    for tap_row, row_values in zip(tap_rows, values, strict=True):
        label = tap_row.get("student", tap_row[roles[0]])
        rows.extend(
            MetricsRow(epoch, label, name, *summarize(v), samples=size) for name, v in row_values.items()
        )
    return rows


def _sub(matrix: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """The rows and columns ``ix`` of an N x N matrix, in one gather (no m x N intermediate)."""
    return matrix[ix.unsqueeze(1), ix]


def _u_sub(matrix: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """The U-centred distances of the subsample ``ix`` (the matrix was checked once)."""
    return stats.u_centered(_sub(matrix, ix), check=False)


def summarize(samples: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 5-95 % band, NaN when every sample is undefined (shown as n/a)."""
    arr = np.asarray(samples, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(arr.mean()), float(np.percentile(arr, 5)), float(np.percentile(arr, 95))
