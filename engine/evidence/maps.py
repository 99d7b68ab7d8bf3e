"""Every map of every image of an evaluation set, each image explained inside a class-balanced
context batch of about 16 (UniCAM couples the images of a batch; SPEC §3).

The maps are built exactly as the probe frames of training and analysis are
(:func:`engine.probe.probe_frame`), one context batch at a time, on one set of eval-mode
snapshots of the models. The context batches are dealt out over the ranks of a ``group`` (one
process: all of them), and rank 0 collects every batch's maps: the same batches, so the same maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.data.sampling import context_batches
from engine.distributed.group import Group, LocalGroup
from engine.events import StopToken
from engine.models import ModelSpec
from engine.probe import probe_frame, snapshot

__all__ = ["SetMaps", "explain_set"]


@dataclass(frozen=True)
class SetMaps:
    """Maps (key -> (n, H, W) float32 in [0, 1]) and predictions (role -> (n, k)) of a set, with the
    context batches (positions into the set) each image was explained in."""

    maps: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]
    batches: list[list[int]]


def explain_set(
    models: Mapping[str, nn.Module],
    specs: Mapping[str, ModelSpec],
    normalized: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    *,
    batch_size: int = 16,
    seed: int = 0,
    embeddings=None,
    objective: str = "label",
    extra_pairs: Sequence[tuple[str, str]] = (),
    stop: StopToken | None = None,
    group: Group = LocalGroup(),
) -> SetMaps:
    """Grad-CAM of every role and the UniCAM maps of every image of ``normalized`` (n, 3, H, W).

    Every rank of ``group`` calls this; each explains every world-th context batch and rank 0
    gets all the maps (the other ranks get none)."""
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    frozen = snapshot(models)
    batches = context_batches(labels, batch_size, seed)
    n = len(labels)
    maps: dict[str, np.ndarray] = {}
    predictions: dict[str, np.ndarray] = {}
    mine = batches[group.rank :: group.world]
    for batch in mine:
        if stop is not None:
            stop.check()
        index = torch.as_tensor(batch)
        frame = probe_frame(
            frozen,
            specs,
            torch.zeros(len(batch), 3, 1, 1),  # pictures are not needed here, only maps
            normalized[index],
            labels[index],
            tuple(class_names),
            epoch=0,
            embeddings=embeddings,
            objective=objective,
            extra_pairs=extra_pairs,
            copy_models=False,
        )
        _fill(maps, batch, frame.maps, n)
        _fill(predictions, batch, frame.predictions, n)
    maps, predictions = _collect(maps, predictions, mine, n, group)
    return SetMaps(maps, predictions, [b.tolist() for b in batches])


def _collect(maps: dict, predictions: dict, mine: list, n: int, group: Group) -> tuple[dict, dict]:
    """Rank 0's whole-set arrays with the rows of every other rank's batches filled in; the
    other ranks send theirs (rows only) and get nothing. One process: its arrays as they are."""
    share = None
    if not group.leader:
        rows = np.concatenate(mine).astype(np.int64) if mine else np.zeros(0, dtype=np.int64)
        share = (rows, {k: v[rows] for k, v in maps.items()}, {k: v[rows] for k, v in predictions.items()})
    shares = group.gather_objects(share)
    if shares is None:
        return {}, {}
    for rows, their_maps, their_predictions in shares[1:]:
        _fill(maps, rows, their_maps, n)
        _fill(predictions, rows, their_predictions, n)
    return maps, predictions


def _fill(whole: dict[str, np.ndarray], rows, values: dict[str, np.ndarray], n: int) -> None:
    """``values`` (key -> the arrays of ``rows``) written into ``whole`` (key -> (n, ...) float32
    arrays of the whole set, made on first use)."""
    for key, value in values.items():
        whole.setdefault(key, np.zeros((n, *value.shape[1:]), dtype=np.float32))[rows] = value
