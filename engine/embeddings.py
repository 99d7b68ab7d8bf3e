"""Class embeddings E for label-guided UniCAM and RS (SPEC §3): one row per class.

Three sources, no network needed: one-hot label geometry (the default: distances only say
"same class or not"), a user file (.npy, .pt, .csv; e.g. precomputed CLIP or BERT vectors), and
teacher prototypes (per-class mean of the teacher's L2-normalised features at its feature cut).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import KDLensError, require_path

__all__ = ["ClassEmbeddings", "EmbeddingsError", "load_embeddings", "one_hot", "teacher_prototypes"]


class EmbeddingsError(KDLensError, ValueError):
    """Class embeddings that cannot be read or do not fit the task."""


@dataclass(frozen=True)
class ClassEmbeddings:
    """A (k, d) float32 matrix, row c embedding class c, and where it came from."""

    matrix: np.ndarray
    source: str

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
            raise EmbeddingsError(
                f"Class embeddings must be a (classes, dims) matrix, got shape {matrix.shape}."
            )
        if not np.isfinite(matrix).all():
            raise EmbeddingsError(f"Class embeddings from {self.source} contain NaN or infinite values.")
        matrix.setflags(write=False)
        object.__setattr__(self, "matrix", matrix)

    @property
    def num_classes(self) -> int:
        return int(self.matrix.shape[0])

    def rows(self, labels: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """E_y for every label: (n, d) float32."""
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise EmbeddingsError(f"Labels must lie in 0..{self.num_classes - 1} for these class embeddings.")
        return self.matrix[labels]


def one_hot(num_classes: int) -> ClassEmbeddings:
    """The default label geometry: E_y = one-hot(y)."""
    if num_classes < 2:
        raise EmbeddingsError(f"Class embeddings need at least two classes, got {num_classes}.")
    return ClassEmbeddings(np.eye(num_classes, dtype=np.float32), "one-hot")


def load_embeddings(path: str | Path, num_classes: int) -> ClassEmbeddings:
    """A user file with one row per class: .npy, .pt (a tensor, loaded with weights_only=True),
    or .csv (numbers; a header row and a leading class-name column are allowed)."""
    path = require_path(
        Path(path),
        what="Embeddings file",
        error=EmbeddingsError,
        instead="give a .npy, .pt or .csv file.",
        missing=".",
    )
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif suffix == ".pt" or suffix == ".pth":
            matrix = _tensor_from_pt(torch.load(path, map_location="cpu", weights_only=True), path)
        elif suffix == ".csv":
            matrix = _matrix_from_csv(path)
        else:
            raise EmbeddingsError(f"Embeddings file {path} must be .npy, .pt or .csv, not '{suffix}'.")
    except EmbeddingsError:
        raise
    except Exception as exc:  # damaged file, a pickle that weights_only refuses, bad numbers...
        raise EmbeddingsError(
            f"Cannot read embeddings file {path} ({type(exc).__name__}: {exc}); save a plain numeric "
            "array with one row per class."
        ) from exc
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise EmbeddingsError(f"{path} must hold a numeric (classes, dims) matrix, got shape {matrix.shape}.")
    if matrix.shape[0] != num_classes:
        raise EmbeddingsError(f"{path} has {matrix.shape[0]} rows but the task has {num_classes} classes.")
    if not np.isfinite(matrix).all():
        raise EmbeddingsError(f"{path} contains NaN or infinite values.")
    return ClassEmbeddings(matrix.astype(np.float32), f"file:{path.name}")


def _tensor_from_pt(obj: object, path: Path) -> np.ndarray:
    if isinstance(obj, dict):
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        if len(tensors) != 1:
            raise EmbeddingsError(
                f"{path} holds a dict with {len(tensors)} tensors; save exactly one tensor."
            )
        obj = tensors[0]
    if not isinstance(obj, torch.Tensor):
        raise EmbeddingsError(f"{path} holds a {type(obj).__name__}, not a tensor of class embeddings.")
    return obj.detach().to(torch.float64).numpy()


def _matrix_from_csv(path: Path) -> np.ndarray:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and not all(_is_number(cell) for cell in rows[0][1:]):
        rows = rows[1:]  # a header row
    if rows and not _is_number(rows[0][0]):
        rows = [row[1:] for row in rows]  # a class-name column
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise EmbeddingsError(f"{path}: rows have different numbers of values ({sorted(widths)}).")
    return np.array([[float(cell) for cell in row] for row in rows], dtype=np.float64).reshape(len(rows), -1)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def teacher_prototypes(
    model: nn.Module,
    images: torch.Tensor,
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    num_classes: int,
    feature_cut: str,
    batch_size: int = 64,
) -> ClassEmbeddings:
    """Per-class mean of the model's L2-normalised features at the input of module ``feature_cut``.

    ``images`` are as the model takes them (normalised). Runs without gradients in eval mode;
    the hook is removed and every module's train/eval mode restored, even after an error.
    """
    try:
        cut = model.get_submodule(feature_cut)
    except AttributeError:
        raise EmbeddingsError(
            f"The model has no module named {feature_cut!r} to take prototype features from."
        ) from None
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)).long()
    if labels.shape != (images.shape[0],):
        raise EmbeddingsError(f"Got {images.shape[0]} images but {labels.numel()} labels for the prototypes.")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise EmbeddingsError(f"Labels must lie in 0..{num_classes - 1} for {num_classes} prototypes.")
    missing = sorted(set(range(num_classes)) - set(labels.tolist()))
    if missing:
        raise EmbeddingsError(f"Teacher prototypes need images of every class; classes {missing} have none.")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    captured: list[torch.Tensor] = []
    sums: torch.Tensor | None = None
    modes = {module: module.training for module in model.modules()}
    handle = cut.register_forward_pre_hook(lambda _module, inputs: captured.append(inputs[0].detach()))
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                captured.clear()
                model(images[start : start + batch_size].to(device))
                if not captured:
                    raise EmbeddingsError(f"Module {feature_cut!r} is not used by the model's forward pass.")
                features = captured[0].flatten(1).double()
                features = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
                batch_sums = torch.zeros(
                    num_classes, features.shape[1], dtype=torch.float64, device=features.device
                )
                batch_sums.index_add_(0, labels[start : start + batch_size].to(features.device), features)
                sums = batch_sums if sums is None else sums + batch_sums
    finally:
        handle.remove()
        for module, training in modes.items():
            module.train(training)
    counts = torch.bincount(labels, minlength=num_classes).to(torch.float64)
    prototypes = (sums.cpu() / counts[:, None]).numpy()
    return ClassEmbeddings(prototypes, f"teacher prototypes ({feature_cut})")
