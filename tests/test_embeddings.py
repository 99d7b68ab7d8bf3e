"""Class embeddings (SPEC §3): one-hot, user files, teacher prototypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.embeddings import ClassEmbeddings, EmbeddingsError, load_embeddings, one_hot, teacher_prototypes
from engine.errors import KDLensError

MATRIX = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25], [3.0, 1.0, 1.0]], dtype=np.float32)


def test_one_hot_rows():
    emb = one_hot(4)
    np.testing.assert_array_equal(emb.matrix, np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(emb.rows(torch.tensor([2, 0, 2])), np.eye(4)[[2, 0, 2]])
    assert emb.source == "one-hot" and emb.num_classes == 4
    with pytest.raises(EmbeddingsError, match="0..3"):
        emb.rows([4])
    with pytest.raises(EmbeddingsError, match="two classes"):
        one_hot(1)


def test_matrix_is_read_only_float32():
    emb = ClassEmbeddings(MATRIX.astype(np.float64), "test")
    assert emb.matrix.dtype == np.float32
    with pytest.raises(ValueError):
        emb.matrix[0, 0] = 9.0


@pytest.mark.parametrize("kind", ["npy", "pt", "pt-dict", "csv", "csv-header-names"])
def test_load_embeddings_formats(tmp_path, kind):
    if kind == "npy":
        path = tmp_path / "e.npy"
        np.save(path, MATRIX)
    elif kind.startswith("pt"):
        path = tmp_path / "e.pt"
        tensor = torch.from_numpy(MATRIX)
        torch.save({"embeddings": tensor, "note": "clip"} if kind == "pt-dict" else tensor, path)
    elif kind == "csv":
        path = tmp_path / "e.csv"
        path.write_text("\n".join(",".join(str(v) for v in row) for row in MATRIX) + "\n")
    else:
        path = tmp_path / "e.csv"
        lines = ["class,d0,d1,d2"] + [
            f"c{i}," + ",".join(str(v) for v in row) for i, row in enumerate(MATRIX)
        ]
        path.write_text("\n".join(lines) + "\n")
    emb = load_embeddings(path, 3)
    np.testing.assert_array_equal(emb.matrix, MATRIX)
    assert emb.source == f"file:{path.name}"


def test_load_embeddings_errors(tmp_path):
    np.save(tmp_path / "rows.npy", MATRIX)
    with pytest.raises(EmbeddingsError, match="3 rows but the task has 4 classes"):
        load_embeddings(tmp_path / "rows.npy", 4)
    bad = MATRIX.copy()
    bad[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(EmbeddingsError, match="NaN or infinite"):
        load_embeddings(tmp_path / "nan.npy", 3)
    np.save(tmp_path / "flat.npy", MATRIX[0])
    with pytest.raises(EmbeddingsError, match=r"\(classes, dims\) matrix"):
        load_embeddings(tmp_path / "flat.npy", 3)
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(EmbeddingsError, match="Cannot read embeddings file"):
        load_embeddings(tmp_path / "junk.npy", 3)
    (tmp_path / "ragged.csv").write_text("1,2\n3\n4,5\n")
    with pytest.raises(EmbeddingsError, match="different numbers of values"):
        load_embeddings(tmp_path / "ragged.csv", 3)
    (tmp_path / "e.txt").write_text("1,2")
    with pytest.raises(EmbeddingsError, match=r"\.npy, \.pt or \.csv"):
        load_embeddings(tmp_path / "e.txt", 3)
    with pytest.raises(EmbeddingsError, match="does not exist"):
        load_embeddings(tmp_path / "missing.npy", 3)
    assert issubclass(EmbeddingsError, KDLensError)


class _NotATensor:
    """A custom class: loading it would need to run code, which weights_only refuses."""

    def __init__(self):
        self.rows = MATRIX


def test_pt_file_that_needs_code_is_refused(tmp_path):
    torch.save(_NotATensor(), tmp_path / "code.pt")
    with pytest.raises(EmbeddingsError, match="Cannot read embeddings file"):
        load_embeddings(tmp_path / "code.pt", 3)
    torch.save({"a": torch.zeros(3, 2), "b": torch.ones(3, 2)}, tmp_path / "two.pt")
    with pytest.raises(EmbeddingsError, match="2 tensors"):
        load_embeddings(tmp_path / "two.pt", 3)


def _tiny_teacher() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 3),
    )


def test_teacher_prototypes_match_a_hand_computation():
    model = _tiny_teacher()
    images = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    model.eval()
    with torch.no_grad():
        features = model[:5](images).double()  # the input of module "5", the classifier
    features = features / features.norm(dim=1, keepdim=True)
    expected = np.stack([features[labels == c].mean(dim=0).numpy() for c in range(3)])
    model.train()
    model[1].eval()  # a mixed state, which must come back exactly
    running_mean = model[1].running_mean.clone()
    emb = teacher_prototypes(model, images, labels, 3, feature_cut="5", batch_size=4)
    np.testing.assert_allclose(emb.matrix, expected, rtol=1e-5, atol=1e-6)
    assert emb.matrix.shape == (3, 5) and emb.source == "teacher prototypes (5)"
    assert model.training and not model[1].training and model[0].training
    assert torch.equal(model[1].running_mean, running_mean)  # ran in eval mode
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    whole_batch = teacher_prototypes(model, images, labels.numpy(), 3, feature_cut="5")
    np.testing.assert_allclose(whole_batch.matrix, emb.matrix, rtol=1e-6)


def test_teacher_prototypes_errors_release_the_hook():
    model = _tiny_teacher()
    images = torch.randn(6, 3, 8, 8)
    with pytest.raises(EmbeddingsError, match=r"classes \[2\] have none"):
        teacher_prototypes(model, images, torch.tensor([0, 1, 0, 1, 0, 1]), 3, feature_cut="5")
    with pytest.raises(EmbeddingsError, match="no module named 'head'"):
        teacher_prototypes(model, images, torch.tensor([0, 1, 2, 0, 1, 2]), 3, feature_cut="head")
    with pytest.raises(EmbeddingsError, match="labels"):
        teacher_prototypes(model, images, torch.tensor([0, 1, 2]), 3, feature_cut="5")
    with pytest.raises(EmbeddingsError, match=r"0\.\.2"):
        teacher_prototypes(model, images, torch.tensor([0, 1, 2, 3, 1, 2]), 3, feature_cut="5")
    model.train()
    with pytest.raises(RuntimeError):  # a forward that fails midway: wrong channel count
        teacher_prototypes(
            model, torch.randn(6, 4, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]), 3, feature_cut="5"
        )
    assert model.training and all(not m._forward_pre_hooks for m in model.modules())
