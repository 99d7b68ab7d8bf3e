"""CIFAR-10 / CIFAR-100 from their standard python-pickle files on local disk (no download).

Those files are pickles, and a pickle can run any code while it loads. They are read with a
restricted unpickler that only rebuilds what the real files contain (dicts, lists, strings,
numbers and numpy arrays); any other global named in the file is refused with a
:class:`CifarFormatError`, so a malicious file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.errors import DataError
from engine.data.imageset import ImageSet

__all__ = ["CifarFormatError", "find_cifar_folder", "load_cifar", "safe_unpickle"]

CIFAR10_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
    "meta": "batches.meta",
}
CIFAR100_FILES = {"train": ["train"], "test": ["test"], "meta": "meta"}
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
SUBFOLDERS = ("cifar-10-batches-py", "cifar-100-python")

# The globals numpy arrays need to be rebuilt (numpy 1.x and 2.x module names), and the codec
# Python 3 uses to pickle bytes at protocol 2. Nothing here can run arbitrary code.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class CifarFormatError(DataError):
    """A CIFAR file that is missing, damaged, or holds something other than CIFAR data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 renamed it
                module = "numpy._core." + module[len("numpy.core.") :]
            return super().find_class(module, name)
        raise CifarFormatError(
            f"refused to load {module}.{name}: CIFAR files only hold lists, dicts and numpy arrays, "
            "and this one asks to run other code"
        )


def safe_unpickle(data: bytes) -> Any:
    """Unpickle CIFAR-style data (Python 2 strings read as latin-1), refusing every other global."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def find_cifar_folder(root: str | Path) -> Path | None:
    """The folder holding the CIFAR files: ``root`` itself or its standard subfolder; else None."""
    root = Path(root)
    for folder in (root, *(root / sub for sub in SUBFOLDERS)):
        if (folder / CIFAR10_FILES["meta"]).is_file() or (folder / CIFAR100_FILES["meta"]).is_file():
            return folder
    return None


def load_cifar(root: str | Path, split: str = "train") -> ImageSet:
    """CIFAR-10 (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or CIFAR-100 (``train``,
    ``test``, ``meta``; fine labels) from ``root`` or its ``cifar-10-batches-py`` /
    ``cifar-100-python`` subfolder, as 32 x 32 images in [0, 1]."""
    if split not in ("train", "test"):
        raise DataError(f"CIFAR split must be 'train' or 'test', got {split!r}.")
    folder = find_cifar_folder(root)
    if folder is None:
        raise DataError(
            f"{root} holds no CIFAR files: expected batches.meta with data_batch_1..5 and test_batch "
            "(CIFAR-10), or meta with train and test (CIFAR-100), as in the python version of the data set."
        )
    is_cifar10 = (folder / CIFAR10_FILES["meta"]).is_file()
    files = CIFAR10_FILES if is_cifar10 else CIFAR100_FILES
    label_key, names_key = ("labels", "label_names") if is_cifar10 else ("fine_labels", "fine_label_names")
    names = [
        n.decode() if isinstance(n, bytes) else str(n)
        for n in _field(_read(folder / files["meta"]), names_key, folder / files["meta"])
    ]
    images, labels = [], []
    for name in files[split]:
        batch = _read(folder / name)
        data = np.asarray(_field(batch, "data", folder / name))
        batch_labels = np.asarray(_field(batch, label_key, folder / name), dtype=np.int64)
        if (
            data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3072
            or len(batch_labels) != len(data)
        ):
            raise CifarFormatError(
                f"{folder / name} is not a CIFAR batch: expected uint8 data of shape (n, 3072) and n labels, "
                f"got {data.dtype} {data.shape} and {len(batch_labels)} labels."
            )
        images.append(data)
        labels.append(batch_labels)
    label_tensor = torch.from_numpy(np.concatenate(labels))
    if label_tensor.numel() and (int(label_tensor.min()) < 0 or int(label_tensor.max()) >= len(names)):
        raise CifarFormatError(
            f"{folder} has labels outside 0..{len(names) - 1} (its meta file names {len(names)})."
        )
    pixels = torch.from_numpy(np.concatenate(images)).view(-1, 3, 32, 32).float().div_(255.0)
    mean, std = CIFAR10_STATS if is_cifar10 else CIFAR100_STATS
    kind = "cifar10" if is_cifar10 else "cifar100"
    return ImageSet(
        pixels, label_tensor, tuple(names), mean=mean, std=std, source=f"{kind}:{split} ({folder})"
    )


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CifarFormatError(
            f"CIFAR file {path} is missing; the folder needs every batch file of the data set."
        )
    try:
        return safe_unpickle(path.read_bytes())
    except CifarFormatError as exc:
        raise CifarFormatError(f"{path}: {exc}. Use the original CIFAR files.") from None
    except Exception as exc:  # truncated or not a pickle at all
        raise CifarFormatError(f"Cannot read CIFAR file {path} ({type(exc).__name__}: {exc}).") from exc


def _field(record: Any, key: str, path: Path) -> Any:
    """A field of a CIFAR dict, whose keys are str (latin-1 decoding) or bytes."""
    if isinstance(record, dict):
        for candidate in (key, key.encode()):
            if candidate in record:
                return record[candidate]
    raise CifarFormatError(f"{path} has no '{key}' entry; is it a CIFAR file of the python version?")
