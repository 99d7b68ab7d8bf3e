"""The one ``.npz`` codec of a probe frame, and frame slicing (STYLE.md "One format, one codec").

Run folders (``probe/epoch_0003.npz``), analysis reports (``maps/probe_000.npz``, one image each,
joined back with :func:`join_frames`) and the
window's export all write frames with :func:`encode_probe_frame`; anything written by any of
them decodes with :func:`decode_probe_frame` (or :func:`read_probe_frame`). Layout: arrays by
prefixed name (``maps/<key>``, ``signed/<key>``, ``raw/<key>``, ``predictions/<role>``,
``images``, ``labels``, optional ``masks`` and ``indices``) and a ``meta`` entry holding the
epoch, class names and flags as UTF-8 JSON bytes. No pickles: files load with
``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.errors import KDLensError
from engine.events import ProbeFrame

__all__ = [
    "FrameFormatError",
    "decode_probe_frame",
    "encode_probe_frame",
    "join_frames",
    "read_probe_frame",
    "slice_frame",
    "write_probe_frame",
]

_GROUPS = ("maps", "signed", "raw", "predictions")


class FrameFormatError(KDLensError):
    """A file that is not a KD Lens probe frame (or is damaged)."""


def encode_probe_frame(frame: ProbeFrame) -> bytes:
    """A ProbeFrame as the bytes of a compressed ``.npz``."""
    arrays: dict[str, np.ndarray] = {"images": frame.images, "labels": np.asarray(frame.labels)}
    for prefix, group in zip(_GROUPS, (frame.maps, frame.signed, frame.raw, frame.predictions), strict=True):
        for name, value in group.items():
            arrays[f"{prefix}/{name}"] = np.asarray(value)
    if frame.masks is not None:
        arrays["masks"] = np.asarray(frame.masks)
    if frame.indices is not None:
        arrays["indices"] = np.asarray(frame.indices)
    meta = {"epoch": frame.epoch, "class_names": list(frame.class_names), "flags": frame.flags}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode_probe_frame(data: bytes) -> ProbeFrame:
    """The ProbeFrame encoded in ``data`` (what :func:`encode_probe_frame` wrote)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
            groups: dict[str, dict[str, np.ndarray]] = {prefix: {} for prefix in _GROUPS}
            for key in npz.files:
                prefix, _, name = key.partition("/")
                if name and prefix in groups:
                    groups[prefix][name] = npz[key]
            return ProbeFrame(
                epoch=int(meta["epoch"]),
                images=npz["images"],
                labels=npz["labels"],
                class_names=tuple(meta["class_names"]),
                maps=groups["maps"],
                signed=groups["signed"],
                raw=groups["raw"],
                predictions=groups["predictions"],
                masks=npz["masks"] if "masks" in npz.files else None,
                indices=npz["indices"] if "indices" in npz.files else None,
                flags=meta["flags"],
            )
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise FrameFormatError(
            f"not a KD Lens probe frame, or a damaged one ({type(exc).__name__}: {exc})"
        ) from exc


def write_probe_frame(path: str | Path, frame: ProbeFrame) -> Path:
    """Encode ``frame`` into ``path`` atomically."""
    return atomic_write_bytes(path, encode_probe_frame(frame))


def read_probe_frame(path: str | Path) -> ProbeFrame:
    """Decode the frame stored at ``path``; a damaged file names itself in the error."""
    path = Path(path)
    try:
        return decode_probe_frame(path.read_bytes())
    except FrameFormatError as exc:
        raise FrameFormatError(f"{path}: {exc}") from None


def slice_frame(frame: ProbeFrame, indices: Sequence[int] | np.ndarray | slice) -> ProbeFrame:
    """The images at ``indices`` (an index list or a slice) with every per-image array cut alike."""
    pick = indices if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)

    def cut(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.asarray(value)[pick] for name, value in group.items()}

    return ProbeFrame(
        epoch=frame.epoch,
        images=np.asarray(frame.images)[pick],
        labels=np.asarray(frame.labels)[pick],
        class_names=frame.class_names,
        maps=cut(frame.maps),
        signed=cut(frame.signed),
        raw=cut(frame.raw),
        predictions=cut(frame.predictions),
        masks=None if frame.masks is None else np.asarray(frame.masks)[pick],
        indices=None if frame.indices is None else np.asarray(frame.indices)[pick],
        flags=dict(frame.flags),
    )


def join_frames(frames: Sequence[ProbeFrame]) -> ProbeFrame:
    """One frame of the images of ``frames`` in order (what :func:`slice_frame` cut apart); epoch,
    class names and flags come from the first. A map, prediction, mask or index array missing
    from any of them is left out of the joined frame."""
    if not frames:
        raise FrameFormatError("no probe frames to join")
    first = frames[0]

    def joined(pick) -> dict[str, np.ndarray]:
        groups = [pick(frame) for frame in frames]
        common = [name for name in groups[0] if all(name in group for group in groups)]
        return {name: np.concatenate([np.asarray(group[name]) for group in groups]) for name in common}

    def optional(values: list[np.ndarray | None]) -> np.ndarray | None:
        return None if any(v is None for v in values) else np.concatenate([np.asarray(v) for v in values])

    return ProbeFrame(
        epoch=first.epoch,
        images=np.concatenate([np.asarray(frame.images) for frame in frames]),
        labels=np.concatenate([np.asarray(frame.labels) for frame in frames]),
        class_names=first.class_names,
        maps=joined(lambda frame: frame.maps),
        signed=joined(lambda frame: frame.signed),
        raw=joined(lambda frame: frame.raw),
        predictions=joined(lambda frame: frame.predictions),
        masks=optional([frame.masks for frame in frames]),
        indices=optional([frame.indices for frame in frames]),
        flags=dict(first.flags),
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a probe frame's flags")
