"""Offline analysis of given checkpoints: the job behind `kdlens-cli analyze` (SPEC §9).

Loads teacher, student and base, picks a seeded class-balanced probe set (which is also the
UniCAM context batch) and metrics set, builds the probe frame as training does
(:mod:`engine.probe`) and writes the report folder (:mod:`engine.reports.writer`). Like every job it is
a generator of events and checks a stop token between stages.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.checkpoints import LoadedModel, load_checkpoint
from engine.data.imageset import ImageSet, balanced_indices, normalize
from engine.data.sources import open_dataset
from engine.devices import autocast, describe, resolve_device, to_device
from engine.distributed.group import Ranks
from engine.embeddings import ClassEmbeddings, load_embeddings, one_hot, teacher_prototypes
from engine.errors import KDLensError
from engine.events import JobFinished, LogLine, Progress, StopToken
from engine.evidence.gather import EvidenceOptions, claim_summary, evidence_sets, gather_evidence
from engine.jobs.analyze_checks import AnalyzeInputError, choose_normalisation, validate_analysis
from engine.metrics import compute_metrics
from engine.models import get_spec
from engine.probe import probe_frame
from engine.reports.folder import check_report_out
from engine.reports.writer import write_report
from engine.vocab import DISTILLED, NO_UNIQUE_FEATURES, RESIDUAL, TEACHER_PAIRS

ROLES = ("teacher", "student", "base")  # the three checkpoints an analysis reads


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
    # bring your own models: a Python model file (runs only with trust_code), and which model of a
    # checkpoint holding several (a KD trainer's student / teacher) each role loads
    model_file: str | None = None
    trust_code: bool = False
    key_teacher: str | None = None
    key_student: str | None = None
    key_base: str | None = None
    extra: dict = field(default_factory=dict)
    # evidence (SPEC §10): localisation set, faithfulness set, the authors' extra rows
    evidence: bool = True
    localisation_n: int = 256
    faithfulness_n: int = 64
    fss_v: bool = False
    teacher_maps: bool = False
    prototype_split: str = "train"
    # the inputs' normalisation (3 values each); None: what the checkpoints or their run folder state
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


def _load_models(config: AnalyzeConfig, device: torch.device) -> dict[str, LoadedModel]:
    archs = {"teacher": config.arch_teacher, "student": config.arch_student, "base": config.arch_student}
    keys = {"teacher": config.key_teacher, "student": config.key_student, "base": config.key_base}
    loaded = {}
    for role in ROLES:
        path = getattr(config, role)
        try:
            loaded[role] = load_checkpoint(
                path,
                arch=archs[role],
                trust=config.trust,
                map_location=device,
                key=keys[role],
                role=role,
                model_file=config.model_file,
                trust_code=config.trust_code,
            )
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


PROTOTYPE_IMAGES = 2048  # class-balanced cap on the images teacher prototypes are averaged over


def _embeddings(
    config, teacher: LoadedModel, dataset: ImageSet, scored: np.ndarray, prepare
) -> ClassEmbeddings:
    """The class embeddings E. Teacher prototypes never come from images they are scored on: from
    ``config.prototype_split`` of the data, else from the analysed images outside every scored
    set; the returned source says which (SPEC §10)."""
    choice, k = config.embeddings, dataset.num_classes
    if choice in ("one-hot", "onehot", ""):
        return one_hot(k)
    if choice != "prototypes":
        return load_embeddings(choice, k)
    source = None
    if config.prototype_split and config.prototype_split != config.split:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                source = open_dataset(config.data, config.prototype_split, image_size=dataset.image_size)
            where = f"the '{config.prototype_split}' split of {config.data}"
        except KDLensError:
            source = None  # no such split: fall back to the unscored images below
    if source is None:
        rest = np.setdiff1d(np.arange(len(dataset)), scored)
        if len(np.unique(dataset.clean_labels[rest].numpy())) < k:
            raise AnalyzeInputError(
                f"Teacher prototypes need images of every class that are not scored; {config.data} has no "
                f"'{config.prototype_split}' split and too few other images. Give --prototype-split a split "
                "with every class, or use --embeddings one-hot."
            )
        source, where = dataset.subset(rest), f"{len(rest)} analysed images outside every scored set"
    pick = balanced_indices(source.clean_labels, min(PROTOTYPE_IMAGES, len(source)), config.seed + 7)
    cut = get_spec(teacher.card.arch).feature_cut
    made = teacher_prototypes(teacher.model, prepare(source.images[pick]), source.clean_labels[pick], k, cut)
    return ClassEmbeddings(made.matrix, f"teacher prototypes from {len(pick)} images of {where}")


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


def analyze_job(config: AnalyzeConfig, stop: StopToken | None = None, ranks: Ranks | None = None) -> Iterator:
    """Run the analysis, yielding Progress/LogLine/ProbeFrame/MetricsRow and a final JobFinished.

    ``ranks`` (every rank of a distributed run calls this): the FSS/RS forward passes and
    distance matrices are shared out over the ranks; the maps, the evidence and the report are
    rank 0's, and the other ranks end after the metrics."""
    stop = stop or StopToken()
    leader = ranks is None or ranks.leader
    started = time.perf_counter()
    validate_analysis(config)
    check_report_out(config.out)  # before any work: a folder the report may not go to is refused now
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
    if config.objective == "label" and config.embeddings in ("one-hot", "onehot", "") and config.probe <= k:
        raise AnalyzeInputError(
            f"--probe {config.probe} but the checkpoints have {k} classes: the probe set is UniCAM's context "
            "batch and needs two images of at least one class (one image of each class puts every pair of "
            f"one-hot labels equally far apart); give --probe {k + 1} or more, or --objective unique"
        )
    for message in dataset.skipped[:1]:
        yield LogLine(f"{len(dataset.skipped)} unreadable file(s) skipped, e.g. {message}", "warning")
    normalisation = choose_normalisation(config, loaded, dataset.mean, dataset.std, dataset.source)
    if normalisation.warning:
        yield LogLine(normalisation.warning, "warning")
    mean, std = normalisation.mean, normalisation.std

    def prepare(images: torch.Tensor) -> torch.Tensor:
        return to_device(normalize(images, mean, std), device)  # from pinned memory on a GPU

    labels = dataset.labels.numpy()
    probe_idx = balanced_indices(labels, min(config.probe, len(dataset)), config.seed)
    metrics_idx = balanced_indices(labels, min(config.metrics_n, len(dataset)), config.seed + 1)
    options = EvidenceOptions(
        localisation_images=config.localisation_n if config.evidence else 0,
        faithfulness_images=config.faithfulness_n if config.evidence else 0,
        sanity_images=config.probe if config.evidence else 0,
        seed=config.seed,
    )
    models = {role: m.model for role, m in loaded.items()}
    stop.check()

    yield progress(1, "class embeddings")
    scored = np.concatenate([probe_idx, metrics_idx, *evidence_sets(dataset, options).values()])
    embeddings = _embeddings(config, loaded["teacher"], dataset, scored, prepare)

    yield progress(2, "Grad-CAM and UniCAM")
    probe = dataset.subset(probe_idx)
    specs = {role: get_spec(m.card.arch) for role, m in loaded.items()}
    frame = None
    if leader:  # the maps are rank 0's
        frame = probe_frame(
            models,
            specs,
            probe.images,
            prepare(probe.images),
            probe.labels,
            dataset.class_names,
            epoch=0,
            masks=probe.masks,
            indices=probe_idx,
            flags={"context": "probe set", "context_indices": [int(i) for i in probe_idx]},
            embeddings=embeddings,
            objective=config.objective,
            extra_pairs=TEACHER_PAIRS if config.teacher_maps else (),
        )
    if frame is not None:
        yield frame
    stop.check()

    yield progress(3, f"FSS / RS on {len(metrics_idx)} images")
    taps = _taps(config, loaded)
    rows = compute_metrics(
        models,
        prepare(dataset.images[metrics_idx]),
        labels[metrics_idx],
        taps,
        num_classes=k,
        embeddings=embeddings,
        repeats=config.repeats,
        seed=config.seed,
        stop=stop if ranks is None else None,  # every rank must reach every block
        fss_v=config.fss_v,
        ranks=ranks,
    )
    yield from rows
    if frame is None:  # another rank: its share of the evidence's context batches, then done
        if config.evidence:
            gather_evidence(
                models, specs, dataset, prepare, options=options, embeddings=embeddings,
                objective=config.objective, ranks=ranks,
            )  # fmt: skip
        return

    evidence = None
    if config.evidence:
        yield progress(4, "evidence: localisation, ROAD faithfulness, sanity check")
        with autocast(device):  # ROAD's many forward passes too (a no-op on the CPU)
            evidence = gather_evidence(
                models, specs, dataset, prepare, options=options, embeddings=embeddings,
                objective=config.objective, stop=stop, ranks=ranks,
            )  # fmt: skip
        yield from evidence.events(0)
        for claim, verdict_line in claim_summary(evidence).items():
            yield LogLine(f"{claim}: {verdict_line}")

    yield progress(5, "writing the report")
    out = Path(config.out)
    manifest = {
        "config": asdict(config),
        "checkpoints": {role: {"path": str(m.path), "arch": m.card.arch} for role, m in loaded.items()},
        "data": {"source": dataset.source, "images": len(dataset), "classes": list(dataset.class_names)},
        "seed": config.seed,
        "device": describe(device),
        "image_size": image_size,
        "normalization": normalisation.manifest(),
        "layers": taps,
        "cam_layers": {role: spec.cam_layer for role, spec in specs.items()},
        "embedding_source": embeddings.source,
        "objective": config.objective,
        "probe_indices": [int(i) for i in probe_idx],
        "context_batches": {DISTILLED: [int(i) for i in probe_idx], RESIDUAL: [int(i) for i in probe_idx]},
        "metrics_indices": [int(i) for i in metrics_idx],
        "flags": {k: bool(v) for k, v in frame.flags.items() if k.startswith(NO_UNIQUE_FEATURES)},
        "evidence": None if evidence is None else {"sets": evidence.sets, "notes": evidence.notes},
    }
    summary = write_report(out, frame, rows, manifest, evidence=evidence)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    yield progress(6, "done")
    yield JobFinished(summary, out_dir=str(out))
