"""Offline analysis of given checkpoints: the job behind `kdlens-cli analyze` (SPEC §9).

The analysis runs as named stages, each with its own small part of the configuration
(:mod:`engine.jobs.analyze_config`): load the checkpoints, read the data, choose the seeded,
class-balanced probe set (which is also the UniCAM context batch) and metrics set, make the
class embeddings, draw the probe frame as training does (:mod:`engine.probe`), measure FSS/RS,
gather the evidence (:mod:`engine.evidence`) and write the report folder
(:mod:`engine.reports.writer`). Like every job it is a generator of events and checks a stop
token between stages.

With a distributed ``group`` every rank runs the stages: the FSS/RS forward passes and distance
matrices and the evidence's context batches are shared out; the maps and the report are rank 0's.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoints import LoadedModel, load_checkpoint
from engine.data.imageset import ImageSet, balanced_indices, normalize
from engine.data.sampling import describe_set, paired_indices
from engine.data.sources import open_dataset
from engine.devices import autocast, clock, describe, resolve_device, to_device
from engine.distributed.group import Group, LocalGroup
from engine.embeddings import ClassEmbeddings, load_embeddings, one_hot, teacher_prototypes
from engine.errors import KDLensError
from engine.events import Event, JobFinished, LogLine, MetricsRow, ProbeFrame, Progress, StopToken
from engine.evidence.context import EvidenceContext, MetricsMatrices
from engine.evidence.gather import EvidenceResult, gather_evidence
from engine.evidence.registry import evidence_kinds
from engine.jobs.analyze_config import (
    ONE_HOT,
    AnalyzeConfig,
    AnalyzeInputError,
    Checkpoints,
    MapChoice,
    Reading,
    SetSizes,
)
from engine.jobs.normalisation import Normalisation, choose_normalisation
from engine.metrics import compute_metrics, metrics_plan
from engine.models import ModelSpec, get_spec
from engine.probe import probe_frame
from engine.reports.folder import check_report_out
from engine.reports.writer import write_report
from engine.vocab import DISTILLED, NO_UNIQUE_FEATURES, RESIDUAL, TEACHER_PAIRS

__all__ = ["AnalyzeConfig", "AnalyzeInputError", "analyze_job", "load_models"]

PROTOTYPE_IMAGES = 2048  # class-balanced cap on the images teacher prototypes are averaged over


@dataclass
class Analysis:
    """What the stages hand on to each other; each stage fills its part."""

    device: torch.device
    group: Group
    stop: StopToken
    started: float = 0.0  # when the job began (perf_counter)
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    dataset: ImageSet | None = None
    image_size: int = 0
    normalisation: Normalisation | None = None
    probe: np.ndarray | None = None
    metrics_set: np.ndarray | None = None
    sets: dict[str, str] = field(default_factory=dict)  # what each set holds, and why
    embeddings: ClassEmbeddings | None = None
    frame: ProbeFrame | None = None
    taps: dict[str, list[str]] = field(default_factory=dict)
    rows: list[MetricsRow] = field(default_factory=list)
    evidence: EvidenceResult | None = None
    matrices: MetricsMatrices | None = None  # the metrics' distances, for the evidence that reads them
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage and part (the manifest's)

    @property
    def models(self) -> dict[str, torch.nn.Module]:
        return {role: m.model for role, m in self.loaded.items()}

    @property
    def specs(self) -> dict[str, ModelSpec]:
        return {role: get_spec(m.card.arch) for role, m in self.loaded.items()}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the models' inputs, on their device (from pinned memory on a GPU)."""
        return to_device(normalize(images, self.normalisation.mean, self.normalisation.std), self.device)


def load_models(parts: Checkpoints, device: torch.device) -> dict[str, LoadedModel]:
    """Teacher, student and base in eval mode on ``device``; they must share their classes."""
    loaded = {}
    for role, path in parts.paths.items():
        try:
            loaded[role] = load_checkpoint(
                path, arch=parts.archs[role], trust=parts.trust, map_location=device, key=parts.keys[role],
                role=role, model_file=parts.model_file, trust_code=parts.trust_code,
            )  # fmt: skip
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


def read_data(reading: Reading, state: Analysis) -> Iterator[Event]:
    """The analysed split at the student's input size, and the normalisation that feeds it."""
    card = state.loaded["student"].card
    state.image_size = reading.image_size or card.input_size or get_spec(card.arch).input_size
    with warnings.catch_warnings():  # skipped files are reported below as a LogLine
        warnings.simplefilter("ignore", UserWarning)
        dataset = open_dataset(reading.data, split=reading.split, image_size=state.image_size)
    if len(dataset.class_names) != card.num_classes:
        raise AnalyzeInputError(
            f"The data has {len(dataset.class_names)} classes ({', '.join(dataset.class_names[:8])}) but the "
            f"checkpoints have {card.num_classes}; point --data at the folder the models were trained for."
        )
    for message in dataset.skipped[:1]:
        yield LogLine(f"{len(dataset.skipped)} unreadable file(s) skipped, e.g. {message}", "warning")
    given = None if reading.mean is None else (reading.mean, reading.std)
    state.normalisation = choose_normalisation(given, state.loaded, dataset.mean, dataset.std, dataset.source)
    if state.normalisation.warning:
        yield LogLine(state.normalisation.warning, "warning")
    state.dataset = dataset


def choose_sets(sizes: SetSizes, state: Analysis) -> Iterator[Event]:
    """The probe set (UniCAM's context batch) and the metrics set, seeded and class-balanced; when
    the classes outnumber what a set can hold, a seeded subset of classes with two images each
    (:func:`engine.data.sampling.paired_indices`), said in the log."""
    labels, k = state.dataset.labels.numpy(), state.dataset.num_classes
    state.probe = paired_indices(labels, min(sizes.probe, len(labels)), sizes.seed)
    state.metrics_set = paired_indices(labels, min(sizes.metrics_n, len(labels)), sizes.seed + 1)
    for name, picked in (("probe set", state.probe), ("metrics set", state.metrics_set)):
        state.sets[name] = describe_set(labels, picked, k)
        if len(np.unique(labels[picked])) < k:
            yield LogLine(f"{name}: {state.sets[name]}")


def class_embeddings(
    maps: MapChoice, reading: Reading, seed: int, scored: np.ndarray, state: Analysis
) -> None:
    """The class embeddings E. Teacher prototypes never come from images they are scored on: from
    ``maps.prototype_split`` of the data, else from the analysed images outside every ``scored``
    set; the embeddings' source says which (SPEC §10)."""
    dataset, k = state.dataset, state.dataset.num_classes
    if maps.embeddings in ONE_HOT:
        state.embeddings = one_hot(k)
        return
    if maps.embeddings != "prototypes":
        state.embeddings = load_embeddings(maps.embeddings, k)
        return
    source, where = None, ""
    if maps.prototype_split and maps.prototype_split != reading.split:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                source = open_dataset(reading.data, maps.prototype_split, image_size=dataset.image_size)
            where = f"the '{maps.prototype_split}' split of {reading.data}"
        except KDLensError:
            source = None  # no such split: fall back to the unscored images below
    if source is None:
        rest = np.setdiff1d(np.arange(len(dataset)), scored)
        if len(np.unique(dataset.clean_labels[rest].numpy())) < k:
            raise AnalyzeInputError(
                f"Teacher prototypes need images of every class that are not scored; {reading.data} has no "
                f"'{maps.prototype_split}' split and too few other images. Give --prototype-split a split "
                "with every class, or use --embeddings one-hot."
            )
        source, where = dataset.subset(rest), f"{len(rest)} analysed images outside every scored set"
    pick = balanced_indices(source.clean_labels, min(PROTOTYPE_IMAGES, len(source)), seed + 7)
    teacher = state.loaded["teacher"]
    cut = get_spec(teacher.card.arch).feature_cut
    made = teacher_prototypes(
        teacher.model, state.prepare(source.images[pick]), source.clean_labels[pick], k, cut
    )
    state.embeddings = ClassEmbeddings(made.matrix, f"teacher prototypes from {len(pick)} images of {where}")


def draw_maps(maps: MapChoice, state: Analysis) -> Iterator[Event]:
    """The probe frame: Grad-CAM of every model and the UniCAM maps of the probe set (rank 0)."""
    if not state.group.leader:
        return
    probe = state.dataset.subset(state.probe)
    state.frame = probe_frame(
        state.models, state.specs, probe.images, state.prepare(probe.images), probe.labels,
        state.dataset.class_names, epoch=0, masks=probe.masks, indices=state.probe,
        flags={"context": "probe set", "context_indices": [int(i) for i in state.probe]},
        embeddings=state.embeddings, objective=maps.objective,
        extra_pairs=TEACHER_PAIRS if maps.teacher_maps else (),
    )  # fmt: skip
    yield state.frame


def measure(sizes: SetSizes, state: Analysis) -> Iterator[Event]:
    """FSS / RS / LP per layer tap on the metrics set, on the models' device when its free memory
    holds the work (else on the host, said in one line)."""
    state.taps = _taps(sizes.layers, state.loaded)
    images = state.prepare(state.dataset.images[state.metrics_set])
    plan = metrics_plan(state.models, images, state.taps, fss_v=sizes.fss_v, group=state.group)
    if plan.note() and state.group.leader:
        yield LogLine(plan.note(), "warning")
    kept: dict = {}
    state.rows = compute_metrics(
        state.models, images, state.dataset.labels.numpy()[state.metrics_set], state.taps,
        num_classes=state.dataset.num_classes, embeddings=state.embeddings, repeats=sizes.repeats,
        seed=sizes.seed, stop=state.group.collective_stop(state.stop), fss_v=sizes.fss_v, group=state.group,
        plan=plan, keep=kept,
    )  # fmt: skip
    state.timings |= {f"FSS / RS: {part}": round(t, 3) for part, t in kept.pop("seconds", {}).items()}
    state.matrices = MetricsMatrices(**kept) if kept else None
    yield from state.rows


def _taps(layers: tuple[str, ...], loaded: dict[str, LoadedModel]) -> dict[str, list[str]]:
    taps = {}
    for role, m in loaded.items():
        defaults = list(get_spec(m.card.arch).metric_taps)
        named = dict(m.model.named_modules())
        taps[role] = [t for t in layers if t in named] or defaults
        if layers and not any(t in named for t in layers):
            raise AnalyzeInputError(
                f"None of --layers {', '.join(layers)} exists in the {role} ({m.card.arch}); "
                f"its default taps are {', '.join(defaults)}."
            )
    return taps


def gather(context: EvidenceContext, state: Analysis) -> Iterator[Event]:
    """Every evidence kind, with its claims' verdicts as log lines (the metrics' matrices are let
    go once the kinds that read them ran)."""
    context.metrics, state.matrices = state.matrices, None
    with autocast(state.device):  # ROAD's many forward passes too (a no-op on the CPU)
        state.evidence = gather_evidence(context)
    context.metrics = None
    if not state.group.leader:
        return
    yield from state.evidence.events(0)
    for claim in state.evidence.claims():
        yield LogLine(f"{claim.kind} {claim.name}: {claim.line()}")


def manifest(config: AnalyzeConfig, state: Analysis) -> dict[str, Any]:
    """What was computed, from what, and how to reproduce it."""
    dataset, probe = state.dataset, [int(i) for i in state.probe]
    evidence = state.evidence
    return {
        "config": config.manifest(),
        "checkpoints": {role: {"path": str(m.path), "arch": m.card.arch} for role, m in state.loaded.items()},
        "data": {"source": dataset.source, "images": len(dataset), "classes": list(dataset.class_names)},
        "seed": config.seed,
        "device": describe(state.device),
        "image_size": state.image_size,
        "normalization": state.normalisation.manifest(),
        "layers": state.taps,
        "cam_layers": {role: spec.cam_layer for role, spec in state.specs.items()},
        "embedding_source": state.embeddings.source,
        "objective": config.objective,
        "probe_indices": probe,
        "context_batches": {DISTILLED: probe, RESIDUAL: probe},
        "metrics_indices": [int(i) for i in state.metrics_set],
        "sets": state.sets,
        "flags": {k: bool(v) for k, v in state.frame.flags.items() if k.startswith(NO_UNIQUE_FEATURES)},
        "evidence": None if evidence is None else {"sets": evidence.sets, "notes": evidence.notes},
        "timings": {**state.timings, "seconds to the report": round(time.perf_counter() - state.started, 3)},
    }


def analyze_job(config: AnalyzeConfig, stop: StopToken | None = None, group: Group | None = None) -> Iterator:
    """Run the analysis, yielding Progress/LogLine/ProbeFrame/MetricsRow/Evidence and a final
    JobFinished (rank 0; the other ranks of a ``group`` share the work and yield no report)."""
    started = time.perf_counter()
    config.check()
    check_report_out(config.out)  # before any work: a folder the report may not go to is refused now
    state = Analysis(
        resolve_device(config.device), group or LocalGroup(), stop or StopToken(), started=started
    )
    torch.manual_seed(config.seed)
    stages = _stages(config, state)
    total = len(stages)
    for done, (title, run) in enumerate(stages):
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done else None
        yield Progress("analysis", 0, done, total, done, total, eta_seconds=eta, stage=title())
        begun = clock(state.device)
        yield from run()
        state.timings[title().split(":")[0].split(" on ")[0]] = round(clock(state.device) - begun, 3)
        state.stop.check()
    if state.group.leader:
        tables = None if state.evidence is None else state.evidence.events(0)
        if state.evidence is not None:
            state.timings |= {f"evidence: {kind}": t for kind, t in state.evidence.seconds.items()}
        summary = write_report(Path(config.out), state.frame, state.rows, manifest(config, state), tables)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        yield Progress("analysis", 0, total, total, total, total, stage="done")
        yield JobFinished(summary, out_dir=str(config.out))


Stage = tuple[Callable[[], str], Callable[[], Iterator[Event]]]


def _stages(config: AnalyzeConfig, state: Analysis) -> list[Stage]:
    """(progress title, what it runs) of each stage, in order."""
    sizes, maps, reading = config.set_sizes(), config.map_choice(), config.reading()
    context: list[EvidenceContext] = []  # made once the data are read; none without evidence

    def load() -> Iterator[Event]:
        state.loaded = load_models(config.checkpoints(), state.device)
        yield from read_data(reading, state)
        yield from choose_sets(sizes, state)
        if config.evidence:
            context.append(
                EvidenceContext(
                    state.models, state.specs, state.dataset, state.prepare, config.evidence_settings(),
                    seed=config.seed, objective=maps.objective, stop=state.stop, group=state.group,
                )
            )  # fmt: skip
            labels = state.dataset.clean_labels
            for kind, picked in context[0].sets.items():
                state.sets[f"{kind} set"] = describe_set(labels, picked, state.dataset.num_classes)

    def embed() -> Iterator[Event]:
        scored = np.concatenate(
            [state.probe, state.metrics_set, *(s for c in context for s in c.embedded_sets())]
        )
        class_embeddings(maps, reading, config.seed, scored, state)
        for each in context:
            each.embeddings = state.embeddings
        return iter(())

    def evidence() -> Iterator[Event]:
        return gather(context[0], state) if context else iter(())

    kinds = ", ".join(kind.title for kind in evidence_kinds())
    return [
        (lambda: "loading checkpoints", load),
        (lambda: "class embeddings", embed),
        (lambda: "Grad-CAM and UniCAM", lambda: draw_maps(maps, state)),
        (lambda: f"FSS / RS on {len(state.metrics_set)} images", lambda: measure(sizes, state)),
        (lambda: f"evidence: {kinds}" if context else "evidence: off", evidence),
        (lambda: "writing the report", lambda: iter(())),
    ]
