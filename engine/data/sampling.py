"""Class-balanced, seeded sampling (SPEC §4, §6): the probe, metrics and context sets of a run,
UniCAM's context batches, and the metrics' repeated subsamples.

All three samplers stand on one primitive: :func:`class_pools` (each class's images in a seeded
random order) dealt out by :func:`interleave` (every class's first, then every class's second,
...), so any prefix is as balanced as the classes allow. Drawn without replacement: a duplicated
image would put a zero distance into the statistics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np
import torch

from engine.data.errors import DataError

__all__ = [
    "balanced_indices",
    "balanced_subsamples",
    "class_pools",
    "context_batches",
    "describe_set",
    "interleave",
    "paired_indices",
]


def class_pools(
    labels: np.ndarray, rng: np.random.Generator, available: np.ndarray | None = None
) -> list[np.ndarray]:
    """Each class's positions (among ``available``, default all) in a random order drawn from
    ``rng``, one permutation per class in ascending class order."""
    mask = np.ones(labels.size, dtype=bool) if available is None else available
    return [rng.permutation(np.flatnonzero(mask & (labels == c))) for c in np.unique(labels[mask])]


def interleave[T](groups: Sequence[Sequence[T]], shuffle: np.random.Generator | None = None) -> Iterator[T]:
    """Round by round, the next item of every group that has one: in the groups' order, or in a
    fresh random order each round when ``shuffle`` is given (drawn lazily as a round starts)."""
    for depth in range(max((len(group) for group in groups), default=0)):
        order = range(len(groups)) if shuffle is None else shuffle.permutation(len(groups))
        for g in order:
            if depth < len(groups[g]):
                yield groups[g][depth]


def _as_labels(labels: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64).ravel()


def balanced_indices(
    labels: Sequence[int] | np.ndarray | torch.Tensor, n: int, seed: int, exclude: Sequence[int] = ()
) -> np.ndarray:
    """``n`` distinct indices, as evenly spread over the classes as their sizes allow.

    A class with too few images gives all it has and the rest is spread over the others. The
    result is interleaved class by class, so any prefix is balanced too. Seeded: same inputs,
    same indices.
    """
    labels = _as_labels(labels)
    exclude = np.asarray(exclude, dtype=np.int64).ravel()
    if exclude.size and (exclude.min() < 0 or exclude.max() >= labels.size):
        raise DataError(f"Excluded indices must lie in 0..{labels.size - 1}.")
    available = np.ones(labels.size, dtype=bool)
    available[exclude] = False
    classes = np.unique(labels[available]).size
    if classes < 2:
        raise DataError(
            f"A class-balanced sample needs images of at least two classes; found {classes} "
            "among the images available. Use a data set with two or more classes."
        )
    if n < 0 or n > int(available.sum()):
        raise DataError(f"Cannot pick {n} distinct images: only {int(available.sum())} are available.")
    rng = np.random.default_rng(seed)
    pools = class_pools(labels, rng, available)
    quota = _water_fill(np.array([p.size for p in pools]), n, rng)
    picked = [pool[:q] for pool, q in zip(pools, quota, strict=True)]
    return np.asarray(list(interleave(picked)), dtype=np.int64)


def paired_indices(labels: Sequence[int] | np.ndarray | torch.Tensor, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices for a set that UniCAM explains in context batches, or that RS scores:
    every class it holds has two images or more, whatever the class count.

    When ``n`` gives every class two images, this is :func:`balanced_indices` (over all classes).
    When the classes outnumber what ``n`` can hold (100 classes, a probe set of 16), it draws
    ``n // 2`` classes at random (seeded) among those with two images or more and deals their
    images out pair by pair (an odd ``n`` gives one class a third), so a context batch always has
    a label geometry. Classes with too few images leave their share to the others.
    """
    labels = _as_labels(labels)
    counts = np.bincount(labels) if labels.size else np.zeros(0, dtype=np.int64)
    if n >= 2 * np.count_nonzero(counts):
        return balanced_indices(labels, n, seed)
    paired = np.flatnonzero(counts >= 2)
    if paired.size < 2:
        raise DataError(
            f"A set UniCAM can explain needs two classes with two images each at least; these {labels.size} "
            f"images have {paired.size} such class(es). Use more images per class (a test split with two or "
            "more of each class)."
        )
    if n < 4 or n > labels.size:
        raise DataError(
            f"Cannot pick {n} images in pairs of a class: between 4 and {labels.size} can be picked."
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(paired, size=min(max(2, n // 2), paired.size), replace=False))
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in chosen]
    picked = list(islice(interleave(pools), n))
    if len(picked) < n:  # the chosen classes ran out: images of the other classes fill up
        rest = rng.permutation(np.setdiff1d(np.arange(labels.size), picked))
        picked += [int(i) for i in rest[: n - len(picked)]]
    return np.asarray(picked, dtype=np.int64)


def describe_set(labels: Sequence[int] | np.ndarray | torch.Tensor, picked: np.ndarray, classes: int) -> str:
    """What a set holds, for the manifest and the log: ``16 images of 8 of the 100 classes``."""
    held = np.unique(_as_labels(labels)[np.asarray(picked, dtype=np.int64)])
    if held.size >= classes:
        return f"{len(picked)} images of all {classes} classes"
    return (
        f"{len(picked)} images of {held.size} of the {classes} classes, two or more each (the classes "
        "outnumber what the set can hold: a seeded subset of them)"
    )


def _water_fill(capacity: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class counts summing to n: equal shares, capped by each class's size."""
    quota = np.zeros_like(capacity)
    open_classes = np.arange(capacity.size)
    remaining = n
    while remaining > 0:
        share = remaining // open_classes.size
        full = open_classes[capacity[open_classes] <= share]
        if full.size:  # these classes give everything; their shortfall goes to the others
            quota[full] = capacity[full]
            remaining -= int(capacity[full].sum())
            open_classes = np.setdiff1d(open_classes, full)
            continue
        quota[open_classes] = share
        extra = rng.choice(open_classes, remaining - share * open_classes.size, replace=False)
        quota[extra] += 1
        remaining = 0
    return quota


def balanced_subsamples(labels: np.ndarray, size: int, repeats: int, seed: int) -> list[np.ndarray]:
    """``repeats`` class-balanced index sets of ``size`` (sorted), each drawn afresh: new pools,
    and the classes taken in a new random order every round."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(repeats):
        pools = class_pools(labels, rng)
        draws.append(np.sort(np.asarray(list(islice(interleave(pools, shuffle=rng), size)), dtype=np.int64)))
    return draws


def context_batches(
    labels: Sequence[int] | np.ndarray | torch.Tensor, size: int = 16, seed: int = 0
) -> list[np.ndarray]:
    """Split positions ``0..n-1`` of a set into class-balanced UniCAM context batches of about
    ``size`` images, every image in exactly one batch.

    Images are paired within their class and the pairs dealt out class by class, so a batch holds
    two or more images of each class it contains: its label geometry is never constant (a batch of
    all-different classes would make the one-hot objective undefined). A left-over single image
    joins a batch of its own class where one exists, and a short last batch joins the one before.
    """
    labels = _as_labels(labels)
    if size < 4:
        raise DataError(f"A UniCAM context batch needs at least 4 images, got size={size}.")
    pools = class_pools(labels, np.random.default_rng(seed))
    pairs = list(interleave([[pool[i : i + 2] for i in range(0, len(pool) - 1, 2)] for pool in pools]))
    singles = [int(pool[-1]) for pool in pools if len(pool) % 2]
    per_batch = max(2, size // 2)
    batches = [list(np.concatenate(pairs[i : i + per_batch])) for i in range(0, len(pairs), per_batch)]
    if len(batches) > 1 and len(batches[-1]) < max(4, size // 2):
        batches[-2].extend(batches.pop())
    for single in singles:
        home = next((b for b in batches if labels[single] in labels[b]), batches[-1] if batches else None)
        if home is None:
            batches.append([single])
        else:
            home.append(single)
    return [np.asarray(sorted(b), dtype=np.int64) for b in batches]
