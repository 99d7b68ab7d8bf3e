"""FSS and RS per layer tap (SPEC §4), with a 5-95 % band, and the localisation share of a map.

Per tap: FSS(M1,M2) = R*(F^M1, F^M2) for every present pair; RS(M) = R*(F^M, E_y); the
conditional RS(M1|M2) (distilled RS(S|B), residual RS(B|S), and the authors' RS(T|S), RS(S|T));
the layer progression LP(M) = R*(F_l^M, F_last^M) of each tap with the model's last tap; and,
on request, FSSv: the V-statistic dCor of row-normalised features that one version of the
authors' code reports (R* stays the default; the two can rank pairs of models differently).
Each is one kind of the one table :data:`engine.metric_kinds.METRIC_KINDS`.

For every model and tap the features of the whole metrics set are gathered once (forward hooks,
no gradients, eval mode restored afterwards) and reduced straight away to an N x N distance
matrix through the column-chunked accumulator, so only one model's taps are ever held as
features and the statistics never see an N x D float64 matrix. A class-balanced subsample
without replacement is then just a sub-matrix of those distances, which makes the repeats cheap.

The work is shared out over a ``group`` (:mod:`engine.distributed`): each rank runs the forward
passes of its share of the metrics batches only and the distance matrices are accumulated across
ranks column block by column block (:func:`engine.distributed.distances.gathered_distances`);
the statistics are then computed once, on rank 0. One process is a group of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from engine import stats
from engine.cam.hooks import eval_mode, first_tensor, output_hooks
from engine.data.sampling import balanced_subsamples
from engine.devices import autocast, to_device
from engine.distributed.distances import gathered_distances
from engine.distributed.group import Group, LocalGroup
from engine.errors import KDLensError
from engine.events import MetricsRow, StopToken
from engine.metric_kinds import Subsample, schedule
from engine.vocab import ROLE_LETTERS, ROLES

COLUMN_BLOCK = 1 << 15
ROW_NORMALIZED = "|rownorm"


class MetricsInputError(KDLensError):
    """The metrics set or taps cannot give FSS/RS (too few images, unknown layer, ...)."""


# ---- features to distances ----------------------------------------------------------------------
def tap_distances(
    model: nn.Module,
    images: torch.Tensor,
    taps: Sequence[str],
    *,
    batch_size: int = 64,
    stop: StopToken | None = None,
    row_normalized: bool = False,
    group: Group = LocalGroup(),
) -> dict[str, stats.DistanceMatrix]:
    """N x N distance matrices of the flattened outputs of ``taps`` over ``images``.

    The forward passes run under autocast on a GPU (:mod:`engine.devices`), fed from pinned
    memory; features of one batch are kept (float32, on the CPU) until the pass ends, then folded
    into the distances in column blocks of at most ``COLUMN_BLOCK`` features each. With
    ``row_normalized`` the result also holds ``"<tap>|rownorm"``: the distances of the
    L2-normalised rows (for FSSv). Each rank of ``group`` passes only its share of whole
    batches (the same batches as one process) and the matrices are summed across ranks; every
    rank gets the full N x N result.
    """
    modules = dict(model.named_modules())
    missing = [t for t in taps if t not in modules]
    if missing:
        raise MetricsInputError(
            f"Layer(s) {', '.join(missing)} are not in the {type(model).__name__} model; "
            f"choose taps among its layers, e.g. {', '.join(list(modules)[1:6])} ..."
        )
    captured: dict[str, list[torch.Tensor]] = {t: [] for t in taps}

    def keep(name: str, output: object) -> None:
        out = first_tensor(output)
        captured[name].append(out.detach().reshape(out.shape[0], -1).float().cpu())

    device = next(model.parameters()).device
    n = len(images)
    rows = group.share(n, batch_size)
    images = images[rows.start : rows.stop]
    if device.type == "cuda" and images.device.type == "cpu":
        images = images.pin_memory()  # once: batches then copy without blocking
    with eval_mode(model), torch.no_grad(), output_hooks(model, taps, keep), autocast(device):
        for start in range(0, len(images), batch_size):
            if stop is not None:
                stop.check()
            model(to_device(images[start : start + batch_size], device))

    counts = group.counts(n, batch_size)
    result = {}
    for tap in taps:
        parts = captured.pop(tap)
        features = torch.cat(parts) if parts else torch.zeros((0, 0))
        result[tap] = gathered_distances(features, counts, group, block=COLUMN_BLOCK, name=tap)
        if row_normalized:
            normalized = torch.nn.functional.normalize(features, dim=1)
            result[f"{tap}{ROW_NORMALIZED}"] = gathered_distances(
                normalized, counts, group, block=COLUMN_BLOCK, name=tap
            )
        del features
    return result


# ---- the rows -----------------------------------------------------------------------------------
def _embedding_rows(labels: np.ndarray, num_classes: int, embeddings) -> np.ndarray:
    if embeddings is None:
        return np.eye(num_classes, dtype=np.float64)[labels]
    matrix = np.asarray(getattr(embeddings, "matrix", embeddings), dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != num_classes:
        raise MetricsInputError(
            f"Class embeddings have shape {matrix.shape}; RS needs one row per class ({num_classes})."
        )
    return matrix[labels]


def _align_taps(taps: Mapping[str, Sequence[str]], roles: Sequence[str]) -> list[dict[str, str]]:
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


def _checked(
    models: Mapping[str, nn.Module], n: int, labels, subsample: int | None
) -> tuple[list, np.ndarray, int]:
    """(roles present, labels as int64, subsample size) or the input error."""
    roles = [r for r in ROLE_LETTERS if r in models]
    unknown = sorted(set(models) - set(ROLES))
    if unknown or not roles:
        raise MetricsInputError(f"Unknown role(s) {unknown}; use teacher, assistant, student, base.")
    labels = np.asarray(labels, dtype=np.int64)
    if n != len(labels):
        raise MetricsInputError(f"{n} images but {len(labels)} labels in the metrics set.")
    size = subsample or max(stats.MIN_SAMPLES, (3 * n) // 4)
    if size < stats.MIN_SAMPLES or size > n:
        raise MetricsInputError(
            f"The metrics set has {n} images and the subsample size is {size}; it needs at least "
            f"{stats.MIN_SAMPLES} images per subsample and no more than the set holds."
        )
    return roles, labels, size


def compute_metrics(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels,
    taps: Mapping[str, Sequence[str]],
    *,
    num_classes: int,
    embeddings=None,
    subsample: int | None = None,
    repeats: int = 10,
    seed: int = 0,
    epoch: int = 0,
    batch_size: int = 64,
    stop: StopToken | None = None,
    fss_v: bool = False,
    group: Group = LocalGroup(),
) -> list[MetricsRow]:
    """Every kind of :data:`METRIC_KINDS` per tap: FSS for every present pair, RS / RS(.|.) and the
    layer progression LP for every present role (and FSSv when ``fss_v``).

    ``models``: role -> model (roles teacher, assistant, student, base); ``images`` normalised.
    Each value is the mean over ``repeats`` class-balanced subsamples of ``subsample`` images
    (default three quarters of the set) with the 5th and 95th percentiles as the band.

    Every rank of ``group`` calls this with the same arguments: the forward passes and the
    distance matrices are shared out (:func:`tap_distances`), the rows come back on rank 0 and
    the other ranks get an empty list.
    """
    roles, labels, size = _checked(models, len(images), labels, subsample)
    distances = {
        role: tap_distances(
            models[role],
            images,
            sorted(set(taps[role])),
            batch_size=batch_size,
            stop=stop,
            row_normalized=fss_v,
            group=group,
        )  # fmt: skip
        for role in roles
    }
    if not group.leader:
        return []
    label_distances = stats.pairwise_distances(_embedding_rows(labels, num_classes, embeddings))
    draws = [torch.as_tensor(idx) for idx in balanced_subsamples(labels, size, repeats, seed)]
    return _rows(distances, label_distances, draws, taps, roles, fss_v=fss_v, epoch=epoch, size=size)


def _rows(
    distances: dict[str, dict[str, stats.DistanceMatrix]],
    label_distances: torch.Tensor,
    draws: list[torch.Tensor],
    taps: Mapping[str, Sequence[str]],
    roles: list[str],
    *,
    fss_v: bool,
    epoch: int,
    size: int,
) -> list[MetricsRow]:
    """Per row of aligned taps, every scheduled kind's value on each subsample, summarised."""
    last_tap = {role: list(taps[role])[-1] for role in roles}
    last_u = [
        {r: stats.u_centered(distances[r][last_tap[r]].values[ix][:, ix]) for r in roles} for ix in draws
    ]
    kinds = schedule(roles, fss_v)
    rows: list[MetricsRow] = []
    for tap_row in _align_taps(taps, roles):
        values: dict[str, list[float]] = {}
        for ix, last in zip(draws, last_u, strict=True):
            sample = Subsample(
                u={r: stats.u_centered(distances[r][tap_row[r]].values[ix][:, ix]) for r in roles},
                label=stats.u_centered(label_distances[ix][:, ix]),
                last=last,
                row_normalized={
                    r: distances[r][tap_row[r] + ROW_NORMALIZED].values[ix][:, ix] for r in roles if fss_v
                },
            )
            for kind, subject in kinds:
                values.setdefault(kind.name(subject), []).append(kind.value(sample, subject))
        label = tap_row.get("student", tap_row[roles[0]])
        rows.extend(MetricsRow(epoch, label, name, *summarize(v), samples=size) for name, v in values.items())
    return rows


def summarize(samples: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 5-95 % band, NaN when every sample is undefined (shown as n/a)."""
    arr = np.asarray(samples, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(arr.mean()), float(np.percentile(arr, 5)), float(np.percentile(arr, 95))


def localisation_share(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image share of the map's mass inside the object mask (energy-based pointing game).

    ``maps`` (n, H, W) non-negative, ``masks`` (n, H, W) bool. An all-zero map gives NaN.
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise MetricsInputError(f"Maps {maps.shape} and masks {masks.shape} must have the same shape.")
    maps = np.clip(maps, 0.0, None)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    inside = (maps * masks).reshape(len(maps), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
