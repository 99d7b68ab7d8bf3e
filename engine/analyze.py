"""Offline analysis of given checkpoints: the job behind `kdlens-cli analyze` (SPEC §9).

Loads teacher, student and base, picks a seeded class-balanced probe set (which is also the
UniCAM context batch) and metrics set, and writes a report folder: metrics.csv / metrics.json
(FSS/RS per layer with bands), maps/*.npz and overlays/*.png for the probe images, and
manifest.json recording everything needed to reproduce it. Like every job it is a generator of
events and checks a stop token between stages.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import __version__
from engine.atomic import atomic_save, atomic_write_text
from engine.cam import distilled_and_residual, grad_cam
from engine.checkpoints import LoadedModel, load_checkpoint
from engine.data import ImageSet, balanced_indices, normalize, open_dataset
from engine.embeddings import ClassEmbeddings, load_embeddings, one_hot, teacher_prototypes
from engine.errors import KDLensError
from engine.events import JobFinished, LogLine, MetricsRow, ProbeFrame, Progress, StopToken
from engine.metrics import compute_metrics, localisation_share, summarize
from engine.models import get_spec
from engine.render import figure_row, save_png, to_uint8_image

ROLES = ("teacher", "student", "base")
MAP_NAMES = ("gradcam_teacher", "gradcam_student", "gradcam_base", "distilled", "residual")


class AnalyzeInputError(KDLensError):
    """The checkpoints, data or options of an analysis do not fit together."""


@dataclass(frozen=True)
class AnalyzeConfig:
    teacher: str
    student: str
    base: str
    data: str
    out: str
    split: str | None = "test"
    arch_teacher: str | None = None
    arch_student: str | None = None
    layers: tuple[str, ...] = ()
    probe: int = 16
    metrics_n: int = 256
    repeats: int = 10
    seed: int = 0
    embeddings: str = "one-hot"
    objective: str = "label"
    image_size: int | None = None
    device: str | None = None
    trust: bool = False
    extra: dict = field(default_factory=dict)


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AnalyzeInputError(
            "--device cuda was asked for but no CUDA GPU is usable here; use --device cpu."
        )
    if name not in ("cpu", "cuda"):
        raise AnalyzeInputError(f"Unknown device {name!r}; use cpu or cuda.")
    return torch.device(name)


def _load_models(config: AnalyzeConfig, device: torch.device) -> dict[str, LoadedModel]:
    archs = {"teacher": config.arch_teacher, "student": config.arch_student, "base": config.arch_student}
    loaded = {}
    for role in ROLES:
        path = getattr(config, role)
        try:
            loaded[role] = load_checkpoint(path, arch=archs[role], trust=config.trust, map_location=device)
        except KDLensError as exc:
            raise AnalyzeInputError(f"{role} checkpoint {path}: {exc}") from exc
        loaded[role].model.to(device).eval()
    counts = {role: m.card.num_classes for role, m in loaded.items()}
    if len(set(counts.values())) != 1:
        raise AnalyzeInputError(
            f"The checkpoints disagree on the class count ({counts}); teacher, student and base must "
            "be trained on the same classes."
        )
    return loaded


def _embeddings(config, teacher: LoadedModel, images: torch.Tensor, labels, k: int) -> ClassEmbeddings:
    choice = config.embeddings
    if choice in ("one-hot", "onehot", ""):
        return one_hot(k)
    if choice == "prototypes":
        cut = get_spec(teacher.card.arch).feature_cut
        return teacher_prototypes(teacher.model, images, labels, k, cut)
    return load_embeddings(choice, k)


def _taps(config: AnalyzeConfig, loaded: dict[str, LoadedModel]) -> dict[str, list[str]]:
    taps = {}
    for role, m in loaded.items():
        defaults = list(get_spec(m.card.arch).metric_taps)
        taps[role] = [t for t in config.layers if t in dict(m.model.named_modules())] or defaults
        if config.layers and not any(t in dict(m.model.named_modules()) for t in config.layers):
            raise AnalyzeInputError(
                f"None of --layers {', '.join(config.layers)} exists in the {role} ({m.card.arch}); "
                f"its default taps are {', '.join(defaults)}."
            )
    return taps


def analyze_job(config: AnalyzeConfig, stop: StopToken | None = None) -> Iterator:
    """Run the analysis, yielding Progress/LogLine/ProbeFrame/MetricsRow and a final JobFinished."""
    stop = stop or StopToken()
    started = time.perf_counter()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    total = 6

    def progress(done: int, stage: str) -> Progress:
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done else None
        return Progress("analysis", 0, done, total, done, total, eta_seconds=eta, stage=stage)

    yield progress(0, "loading checkpoints")
    loaded = _load_models(config, device)
    card = loaded["student"].card
    image_size = config.image_size or card.input_size or get_spec(card.arch).input_size
    with warnings.catch_warnings():  # skipped files are reported below as a LogLine
        warnings.simplefilter("ignore", UserWarning)
        dataset: ImageSet = open_dataset(config.data, split=config.split, image_size=image_size)
    k = card.num_classes
    if len(dataset.class_names) != k:
        raise AnalyzeInputError(
            f"The data has {len(dataset.class_names)} classes ({', '.join(dataset.class_names[:8])}) but "
            f"the checkpoints have {k}; point --data at the folder the models were trained for."
        )
    for message in dataset.skipped[:1]:
        yield LogLine(f"{len(dataset.skipped)} unreadable file(s) skipped, e.g. {message}", "warning")
    mean = tuple(card.mean or dataset.mean)
    std = tuple(card.std or dataset.std)
    labels = dataset.labels.numpy()
    probe_idx = balanced_indices(labels, min(config.probe, len(dataset)), config.seed)
    metrics_idx = balanced_indices(labels, min(config.metrics_n, len(dataset)), config.seed + 1)
    models = {role: m.model for role, m in loaded.items()}
    stop.check()

    yield progress(1, "class embeddings")
    metric_images = normalize(dataset.images[metrics_idx], mean, std).to(device)
    embeddings = _embeddings(config, loaded["teacher"], metric_images, labels[metrics_idx], k)

    yield progress(2, "Grad-CAM")
    probe_images = normalize(dataset.images[probe_idx], mean, std).to(device)
    probe_labels = torch.as_tensor(labels[probe_idx], device=device)
    cams = {
        role: grad_cam(model, get_spec(loaded[role].card.arch).cam_layer, probe_images)
        for role, model in models.items()
    }
    stop.check()

    yield progress(3, "UniCAM distilled and residual")
    layer = get_spec(card.arch).cam_layer
    distilled, residual = distilled_and_residual(
        models["student"],
        models["base"],
        probe_images,
        probe_labels,
        layer_student=layer,
        layer_base=get_spec(loaded["base"].card.arch).cam_layer,
        embeddings=embeddings,
        objective=config.objective,
    )
    results = {f"gradcam_{role}": cams[role] for role in ROLES} | {
        "distilled": distilled,
        "residual": residual,
    }
    frame = ProbeFrame(
        epoch=0,
        images=np.stack([to_uint8_image(img.numpy()) for img in dataset.images[probe_idx]]),
        labels=labels[probe_idx],
        class_names=tuple(dataset.class_names),
        maps={name: r.maps for name, r in results.items()},
        signed={name: r.signed for name, r in results.items()},
        raw={name: r.raw for name, r in results.items()},
        predictions={role: cams[role].probabilities for role in ROLES},
        masks=None if dataset.masks is None else dataset.masks[probe_idx].numpy(),
        indices=probe_idx,
        flags={
            "no_distilled_features": distilled.no_unique_features,
            "no_residual_features": residual.no_unique_features,
        },
    )
    yield frame
    stop.check()

    yield progress(4, f"FSS / RS on {len(metrics_idx)} images")
    taps = _taps(config, loaded)
    rows = compute_metrics(
        models,
        metric_images,
        labels[metrics_idx],
        taps,
        num_classes=k,
        embeddings=embeddings,
        repeats=config.repeats,
        seed=config.seed,
        stop=stop,
    )
    yield from rows

    yield progress(5, "writing the report")
    out = Path(config.out)
    summary = write_report(out, config, frame, rows, dataset, loaded, taps, embeddings, metrics_idx)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    yield progress(6, "done")
    yield JobFinished(summary, out_dir=str(out))


def write_report(
    out: Path,
    config,
    frame: ProbeFrame,
    rows: list[MetricsRow],
    dataset,
    loaded,
    taps,
    embeddings: ClassEmbeddings,
    metrics_idx,
) -> dict:
    """Write metrics.csv/json, maps/*.npz, overlays/*.png and manifest.json; return a summary."""
    (out / "maps").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    fields = ["layer", "metric", "mean", "p5", "p95", "subsample"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for r in rows:
        writer.writerow([r.layer, r.metric, _num(r.mean), _num(r.low), _num(r.high), r.samples])
    atomic_write_text(out / "metrics.csv", buffer.getvalue())
    metrics_json = [
        dict(
            zip(
                fields,
                [r.layer, r.metric, _json_num(r.mean), _json_num(r.low), _json_num(r.high), r.samples],
                strict=True,
            )
        )
        for r in rows
    ]
    localisation = {}
    if frame.masks is not None:
        for name, maps in frame.maps.items():
            mean, low, high = summarize(localisation_share(maps, frame.masks))
            localisation[name] = {"mean": _json_num(mean), "p5": _json_num(low), "p95": _json_num(high)}
    atomic_write_text(
        out / "metrics.json", json.dumps({"metrics": metrics_json, "localisation": localisation}, indent=2)
    )

    for i, index in enumerate(frame.indices):
        arrays = {name: frame.maps[name][i] for name in frame.maps}
        arrays |= {f"{name}_raw": frame.raw[name][i] for name in frame.raw}
        arrays |= {f"{name}_signed": frame.signed[name][i] for name in frame.signed}
        arrays |= {f"probabilities_{role}": p[i] for role, p in frame.predictions.items()}
        arrays |= {
            "image": frame.images[i],
            "label": np.int64(frame.labels[i]),
            "dataset_index": np.int64(index),
            "context_batch": np.asarray(frame.indices),
        }
        stem = f"probe_{i:03d}"
        atomic_save(out / "maps" / f"{stem}.npz", lambda tmp, a=arrays: _savez(tmp, a))
        label = frame.class_names[int(frame.labels[i])]
        preds = ", ".join(
            f"{role[0].upper()}:{frame.class_names[int(p[i].argmax())]}"
            for role, p in frame.predictions.items()
        )
        picture = figure_row(
            frame.images[i],
            {n: frame.maps[n][i] for n in MAP_NAMES},
            scale=max(1, 96 // frame.images.shape[1]),
            caption=f"#{index} label {label}; predicted {preds}",
        )
        save_png(picture, out / "overlays" / f"{stem}.png")

    manifest = {
        "kdlens": __version__,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": asdict(config),
        "checkpoints": {role: {"path": str(m.path), "arch": m.card.arch} for role, m in loaded.items()},
        "data": {"source": dataset.source, "images": len(dataset), "classes": list(dataset.class_names)},
        "seed": config.seed,
        "layers": taps,
        "cam_layers": {role: get_spec(m.card.arch).cam_layer for role, m in loaded.items()},
        "embedding_source": embeddings.source,
        "objective": config.objective,
        "probe_indices": [int(i) for i in frame.indices],
        "context_batches": {
            "distilled": [int(i) for i in frame.indices],
            "residual": [int(i) for i in frame.indices],
        },
        "metrics_indices": [int(i) for i in metrics_idx],
        "flags": {k: bool(v) for k, v in frame.flags.items()},
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return {"metrics": len(rows), "probe_images": len(frame.indices), "localisation": localisation}


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _num(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.6f}"


def _json_num(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)
