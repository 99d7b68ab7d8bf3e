"""Offline analysis of given checkpoints: the job behind `kdlens-cli analyze` (SPEC §9).

Loads teacher, student and base, picks a seeded class-balanced probe set (which is also the
UniCAM context batch) and metrics set, builds the probe frame as training does
(:mod:`engine.probe`) and writes the report folder (:mod:`engine.report`). Like every job it is
a generator of events and checks a stop token between stages.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from engine.checkpoints import LoadedModel, load_checkpoint
from engine.data.imageset import ImageSet, balanced_indices, normalize
from engine.data.sources import open_dataset
from engine.embeddings import ClassEmbeddings, load_embeddings, one_hot, teacher_prototypes
from engine.errors import KDLensError
from engine.events import JobFinished, LogLine, Progress, StopToken
from engine.metrics import compute_metrics
from engine.models import get_spec
from engine.probe import probe_frame
from engine.report import write_report
from engine.vocab import DISTILLED, NO_UNIQUE_FEATURES, RESIDUAL

ROLES = ("teacher", "student", "base")  # the three checkpoints an analysis reads


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
    total = 5

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

    yield progress(2, "Grad-CAM and UniCAM")
    probe = dataset.subset(probe_idx)
    specs = {role: get_spec(m.card.arch) for role, m in loaded.items()}
    frame = probe_frame(
        models,
        specs,
        probe.images,
        normalize(probe.images, mean, std).to(device),
        probe.labels,
        dataset.class_names,
        epoch=0,
        masks=probe.masks,
        indices=probe_idx,
        flags={"context": "probe set", "context_indices": [int(i) for i in probe_idx]},
        embeddings=embeddings,
        objective=config.objective,
    )
    yield frame
    stop.check()

    yield progress(3, f"FSS / RS on {len(metrics_idx)} images")
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

    yield progress(4, "writing the report")
    out = Path(config.out)
    manifest = {
        "config": asdict(config),
        "checkpoints": {role: {"path": str(m.path), "arch": m.card.arch} for role, m in loaded.items()},
        "data": {"source": dataset.source, "images": len(dataset), "classes": list(dataset.class_names)},
        "seed": config.seed,
        "layers": taps,
        "cam_layers": {role: spec.cam_layer for role, spec in specs.items()},
        "embedding_source": embeddings.source,
        "objective": config.objective,
        "probe_indices": [int(i) for i in probe_idx],
        "context_batches": {DISTILLED: [int(i) for i in probe_idx], RESIDUAL: [int(i) for i in probe_idx]},
        "metrics_indices": [int(i) for i in metrics_idx],
        "flags": {k: bool(v) for k, v in frame.flags.items() if k.startswith(NO_UNIQUE_FEATURES)},
    }
    summary = write_report(out, frame, rows, manifest)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    yield progress(5, "done")
    yield JobFinished(summary, out_dir=str(out))
