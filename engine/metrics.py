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

Where that happens is a :class:`engine.metrics_plan.MetricsPlan`: on a GPU the features stay on
the GPU (float32, cast up from autocast), the distances are accumulated there in float64 and the
statistics run there, when its free memory holds them; otherwise the matrices or the whole work
go to the host. The functions are the same on every device, so on the CPU the figures are those
of the host path bit for bit.

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
from engine.devices import autocast, clock, to_device
from engine.distributed.distances import gathered_distances
from engine.distributed.group import Group, LocalGroup
from engine.errors import KDLensError
from engine.events import MetricsRow, StopToken
from engine.metric_kinds import ROW_NORMALIZED, metric_rows, summarize
from engine.metrics_plan import COLUMN_BLOCK, MetricsPlan, metrics_plan
from engine.vocab import ROLE_LETTERS, ROLES

__all__ = [
    "COLUMN_BLOCK", "MetricsInputError", "MetricsPlan", "compute_metrics", "folded_distances",
    "localisation_share", "metrics_plan", "summarize", "tap_distances", "tap_features",
]  # fmt: skip


class MetricsInputError(KDLensError):
    """The metrics set or taps cannot give FSS/RS (too few images, unknown layer, ...)."""


# ---- features to distances ----------------------------------------------------------------------
def tap_features(
    model: nn.Module,
    images: torch.Tensor,
    taps: Sequence[str],
    *,
    batch_size: int = 64,
    stop: StopToken | None = None,
    group: Group = LocalGroup(),
    where: torch.device | None = None,
) -> dict[str, list[torch.Tensor]]:
    """This rank's rows of each tap's flattened outputs over ``images``, batch by batch, float32 on
    ``where`` (default: the model's device).

    The forward passes run under autocast on a GPU (:mod:`engine.devices`), fed from pinned
    memory when the images are on the host; each batch's features are copied as float32 (cast up
    from autocast's dtype) to where the distances will be built (``where``: the model's device,
    or the host). Each rank of ``group`` passes only its share of whole batches (the same
    batches as one process).
    """
    modules = dict(model.named_modules())
    missing = [t for t in taps if t not in modules]
    if missing:
        raise MetricsInputError(
            f"Layer(s) {', '.join(missing)} are not in the {type(model).__name__} model; "
            f"choose taps among its layers, e.g. {', '.join(list(modules)[1:6])} ..."
        )
    device = next(model.parameters()).device
    where = device if where is None else where
    captured: dict[str, list[torch.Tensor]] = {t: [] for t in taps}

    def keep(name: str, output: object) -> None:
        out = first_tensor(output)
        # a copy, never a view: a later module may change the tap's output in place (ReLU(inplace))
        captured[name].append(out.detach().reshape(out.shape[0], -1).to(where, torch.float32, copy=True))

    rows = group.share(len(images), batch_size)
    images = images[rows.start : rows.stop]
    if device.type == "cuda" and images.device.type == "cpu":
        images = images.pin_memory()  # once: batches then copy without blocking
    with eval_mode(model), torch.no_grad(), output_hooks(model, taps, keep), autocast(device):
        for start in range(0, len(images), batch_size):
            if stop is not None:
                stop.check()
            model(to_device(images[start : start + batch_size], device))
    return captured


def tap_distances(
    model: nn.Module,
    images: torch.Tensor,
    taps: Sequence[str],
    *,
    batch_size: int = 64,
    stop: StopToken | None = None,
    row_normalized: bool = False,
    group: Group = LocalGroup(),
    plan: MetricsPlan | None = None,
) -> dict[str, stats.DistanceMatrix]:
    """N x N distance matrices of the flattened outputs of ``taps`` over ``images``.

    The features (:func:`tap_features`) are kept on ``plan.sweep`` (default: the model's device)
    and folded there, tap by tap, into float64 distances in column blocks of at most
    ``COLUMN_BLOCK`` features (:func:`gathered_distances`: every rank gets the full N x N
    result); each finished matrix is kept on ``plan.statistics``. With ``row_normalized`` the
    result also holds ``"<tap>|rownorm"``: the distances of the L2-normalised rows (for FSSv).
    """
    device = next(model.parameters()).device
    plan = plan or MetricsPlan(device, device)
    features = tap_features(
        model, images, taps, batch_size=batch_size, stop=stop, group=group, where=plan.sweep
    )
    counts = group.counts(len(images), batch_size)
    return folded_distances(features, counts, plan, row_normalized=row_normalized, group=group)


def folded_distances(
    features: dict[str, list[torch.Tensor]],
    counts: list[int],
    plan: MetricsPlan,
    *,
    row_normalized: bool = False,
    group: Group = LocalGroup(),
) -> dict[str, stats.DistanceMatrix]:
    """Each tap's features (:func:`tap_features`, emptied as it goes so each tap's are freed once
    folded) as float64 distances built on ``plan.sweep`` and kept on ``plan.statistics``."""
    result = {}
    for tap in list(features):
        parts = features.pop(tap)
        variants = {tap: parts}
        if row_normalized:
            variants[f"{tap}{ROW_NORMALIZED}"] = [torch.nn.functional.normalize(p, dim=1) for p in parts]
        for name, rows in variants.items():
            matrix = gathered_distances(rows, counts, group, block=COLUMN_BLOCK, name=tap, device=plan.sweep)
            result[name] = stats.DistanceMatrix(matrix.values.to(plan.statistics))
        del parts, variants, rows
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
    plan: MetricsPlan | None = None,
    keep: dict | None = None,
) -> list[MetricsRow]:
    """Every kind of :data:`METRIC_KINDS` per tap: FSS for every present pair, RS / RS(.|.) and the
    layer progression LP for every present role (and FSSv when ``fss_v``).

    ``models``: role -> model (roles teacher, assistant, student, base); ``images`` normalised.
    Each value is the mean over ``repeats`` class-balanced subsamples of ``subsample`` images
    (default three quarters of the set) with the 5th and 95th percentiles as the band.

    ``plan`` (default: :func:`metrics_plan` of these arguments) says where the features, the
    distances and the statistics live: the models' device when it has the memory, else the host.
    Every rank of ``group`` calls this with the same arguments: the forward passes and the
    distance matrices are shared out (:func:`tap_distances`), the rows come back on rank 0 and
    the other ranks get an empty list. ``keep`` (rank 0): filled with the ``distances``, ``taps``,
    ``labels`` and subsample ``draws`` behind the rows, and the ``seconds`` of its parts.
    """
    roles, labels, size = _checked(models, len(images), labels, subsample)
    if plan is None:
        plan = metrics_plan(
            {r: models[r] for r in roles}, images, taps, fss_v=fss_v, subsample=size, batch_size=batch_size,
            block=COLUMN_BLOCK, group=group,
        )  # fmt: skip
    distances, seconds = {}, {"forward passes": 0.0, "distances": 0.0}
    counts = group.counts(len(images), batch_size)
    for role in roles:  # as tap_distances, each part timed (the bench and the manifest show them)
        started = clock(plan.sweep)
        features = tap_features(
            models[role], images, sorted(set(taps[role])), batch_size=batch_size, stop=stop, group=group,
            where=plan.sweep,
        )  # fmt: skip
        passed = clock(plan.sweep)
        distances[role] = folded_distances(features, counts, plan, row_normalized=fss_v, group=group)
        seconds["forward passes"] += passed - started
        seconds["distances"] += clock(plan.sweep) - passed
    if not group.leader:
        return []
    where = plan.statistics
    label_rows = torch.as_tensor(_embedding_rows(labels, num_classes, embeddings), device=where)
    label_distances = stats.pairwise_distances(label_rows)
    draws = [torch.as_tensor(idx, device=where) for idx in balanced_subsamples(labels, size, repeats, seed)]
    started = clock(where)
    rows = metric_rows(distances, label_distances, draws, taps, roles, fss_v=fss_v, epoch=epoch, size=size)
    seconds["statistics"] = clock(where) - started
    if keep is not None:  # for what reads the matrices afterwards (the layer map, the per-class RS)
        keep.update(distances=distances, taps={r: list(taps[r]) for r in roles}, labels=labels, draws=draws)
        keep["seconds"] = seconds
    return rows


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
