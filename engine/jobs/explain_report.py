"""Explain one image the user opened with an analysis report's checkpoints (SPEC §3, §8 Inspector).

The report names its checkpoints, how each was loaded (architecture, key, model file) and the
input normalisation (``manifest.json``); its probe images are the analysis's UniCAM context
batch and are stored with the maps, so the opened image is explained inside that very batch,
even when the data set is no longer where it was. Everything else is as for a run folder
(:func:`engine.jobs.explain.explain_in_context`).

A report whose models come from a Python model file, or from pickles loaded with ``--trust``,
runs code when it is loaded: the caller must pass ``trust_code=True`` (the window asks first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch

from engine.data.imageset import normalize
from engine.errors import KDLensError
from engine.events import Event, Progress, StopToken
from engine.jobs.analyze import load_models
from engine.jobs.analyze_config import AnalyzeConfig
from engine.jobs.explain import check_classes, explain_in_context
from engine.models import get_spec
from engine.reports.folder import code_to_trust, read_report

__all__ = ["explain_report_image_job"]


def _config(manifest: dict, trust_code: bool) -> AnalyzeConfig:
    known = {f.name for f in dataclasses.fields(AnalyzeConfig)}
    stored = {k: v for k, v in (manifest.get("config") or {}).items() if k in known}
    for role, entry in (manifest.get("checkpoints") or {}).items():
        stored.setdefault(role, entry.get("path"))
    stored["layers"] = tuple(stored.get("layers") or ())
    # the user's word now, not the stored one: a report from elsewhere never runs code unasked
    stored["trust"] = bool(stored.get("trust")) and trust_code
    stored["trust_code"] = bool(stored.get("trust_code")) and trust_code
    return AnalyzeConfig(**{**stored, "device": "cpu"})


def _normalization(manifest: dict, card, config: AnalyzeConfig, size: int) -> tuple[tuple, tuple]:
    stored = manifest.get("normalization") or {}
    if stored.get("mean") and stored.get("std"):
        return tuple(stored["mean"]), tuple(stored["std"])
    if card.mean and card.std:
        return tuple(card.mean), tuple(card.std)
    from engine.data.sources import open_dataset  # a report written before the manifest kept it

    data = open_dataset(config.data, split=config.split, image_size=size)
    return tuple(data.mean), tuple(data.std)


def explain_report_image_job(
    report_dir: str | Path,
    image_path: str | Path,
    *,
    epoch: int | None = None,
    target: int | None = None,
    label: int | None = None,
    trust_code: bool = False,
    stop: StopToken | None = None,
) -> Iterator[Event]:
    """Yield Progress/LogLine, then one ProbeFrame (n = 1) for ``image_path`` explained by the
    report's teacher, student and base in the report's context batch. ``target``: the class to
    explain (None: each model's prediction); ``label``: the image's true class (None: unknown).
    ``epoch`` is accepted for the window's sake: a report has one set of checkpoints."""
    stop = stop or StopToken()
    image_path = Path(image_path)
    if not image_path.is_file():
        raise KDLensError(f"{image_path} does not exist; pick an image file")
    report = read_report(report_dir)
    needs = code_to_trust(report.manifest)
    if needs and not trust_code:
        raise KDLensError(f"{needs}; confirm that you trust it to explain images with this report's models")
    config = _config(report.manifest, trust_code)
    yield Progress("explain", 0, 0, 3, 0, 3, stage="explain")
    loaded = load_models(config.checkpoints(), torch.device("cpu"))
    yield Progress("explain", 0, 1, 3, 1, 3, stage="explain")
    stop.check()
    frame = report.frame
    names = tuple(frame.class_names)
    check_classes(names, target, label)
    size = int(report.manifest.get("image_size") or frame.images.shape[1])
    mean, std = _normalization(report.manifest, loaded["student"].card, config, size)
    context = torch.from_numpy(frame.images).permute(0, 3, 1, 2).float() / 255.0
    yield from explain_in_context(
        {role: m.model for role, m in loaded.items()},
        {role: get_spec(m.card.arch) for role, m in loaded.items()},
        image_path,
        context,
        torch.from_numpy(frame.labels).long(),
        names,
        lambda images: normalize(images, mean, std),
        epoch=frame.epoch,
        target=target,
        label=label,
        flags={
            "context": "the analysis report's probe set (its UniCAM context batch)",
            "context_split": config.split,
            "context_indices": [int(i) for i in (report.manifest.get("probe_indices") or [])],
            "report": str(Path(report_dir)),
        },
        stop=stop,
    )
