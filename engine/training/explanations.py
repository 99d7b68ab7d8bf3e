"""What a training run explains as it goes (SPEC §5, §10), and writes into its run folder:

* during the teacher's phase, after each teacher epoch, the teacher's Grad-CAM of the probe set
  (a frame at epoch 0, flagged ``phase: teacher``), so the first heatmaps appear within seconds;
* after each KD epoch, the probe frame of every role (and mid-epoch frames when asked);
* every ``metrics_every`` KD epochs and at the last, FSS / RS on the metrics set;
* at the evidence cadence (the last KD epoch by default), every evidence kind on held-out images
  (:mod:`engine.evidence.gather`): localisation, ROAD faithfulness, the sanity check, agreement
  (its KL at the run's KD temperature) and calibration.

Everything works on eval-mode snapshots, so nothing leaks back into training; a failure of one
explanation is a warning in the log, never the end of the run. These are rank 0's; another rank
of a distributed run has :class:`engine.training.follower.FollowerExplanations`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from engine.distributed.group import Group, LocalGroup
from engine.errors import KDLensError
from engine.events import Event, LogLine, StopToken
from engine.evidence.context import EvidenceContext, MetricsMatrices
from engine.evidence.gather import gather_evidence
from engine.losses import get_kd_loss
from engine.models import ModelSpec
from engine.probe import probe_frame, probe_metrics
from engine.runs.writer import RunWriter
from engine.training.config import TrainConfig
from engine.training.setup import RunData
from engine.vocab import KD_ROLES, TEACHER_PHASE_EPOCH

__all__ = ["LiveExplanations"]


class LiveExplanations:
    """The live explanations of one run, written with its :class:`RunWriter`."""

    def __init__(
        self,
        config: TrainConfig,
        data: RunData,
        specs: Mapping[str, ModelSpec],
        sets: Mapping[str, Any],
        writer: RunWriter,
        stop: StopToken,
        device: torch.device,
    ) -> None:
        self.config, self.data, self.specs, self.sets = config, data, specs, sets
        self.writer, self.stop, self.device = writer, stop, device

    def _probe_set(self):
        probe = self.data.heldout.subset(self.sets["probe"])
        return probe, self.data.normalized(probe.images).to(self.device)

    def teacher_frame(self, teacher: nn.Module, teacher_epoch: int) -> Iterator[Event]:
        """The teacher's Grad-CAM of the probe set, while it trains (replaces the previous one)."""
        if not self.config.probe:
            return
        probe, normalized = self._probe_set()
        try:
            frame = probe_frame(
                {"teacher": teacher}, self.specs, probe.images, normalized, probe.clean_labels,
                self.data.class_names, epoch=TEACHER_PHASE_EPOCH, masks=probe.masks,
                indices=self.sets["probe"],
                flags={"phase": "teacher", "teacher_epoch": teacher_epoch, "context": "probe set"},
            )  # fmt: skip
        except KDLensError as exc:
            yield LogLine(f"teacher maps skipped at teacher epoch {teacher_epoch}: {exc}", level="warning")
            return
        self.writer.write_probe(frame)
        yield frame

    def complete_teacher(self, teacher: nn.Module, committed: int) -> Iterator[Event]:
        """On resume: the teacher's frame of its committed epoch, when a stop or a kill cut it short."""
        if self.config.probe and self.writer.teacher_frame_epoch() != committed:
            yield from self.teacher_frame(teacher, committed)

    def complete_kd(
        self,
        models: Mapping[str, nn.Module],
        committed: int,
        due: Callable[[int], tuple[bool, bool]],
    ) -> Iterator[Event]:
        """On resume: the probe frame, metrics and evidence of every committed KD epoch that lacks
        them (a kill while they were written, or a failure then). ``models`` hold the committed
        epoch; earlier epochs use their per-epoch checkpoints. ``due(epoch)``: (metrics, evidence).
        Rank 0 completes them alone: its metrics are computed in this process."""
        config, writer = self.config, self.writer
        for epoch in range(1, committed + 1):
            metrics, evidence = due(epoch)
            probe = config.probe and not writer.has_frame(epoch)
            metrics = metrics and config.metrics and not writer.has_metrics(epoch)
            evidence = evidence and config.evidence and not writer.has_evidence(epoch)
            if not (probe or metrics or evidence):
                continue
            at_epoch = models if epoch == committed else self._models_of_epoch(models, epoch)
            if at_epoch is None:
                yield LogLine(
                    f"the maps and metrics of epoch {epoch} are missing and cannot be recomputed: its "
                    "per-epoch checkpoints are gone",
                    level="warning",
                )
                continue
            yield LogLine(f"completing the explanations of epoch {epoch}, cut short before")
            yield from self.kd_epoch(at_epoch, epoch, probe=probe, metrics=metrics, evidence=evidence)

    def _models_of_epoch(self, models: Mapping[str, nn.Module], epoch: int) -> dict[str, nn.Module] | None:
        """Copies of ``models`` with base and student (those trained) at ``epoch``'s weights."""
        out = dict(models)
        for role, config in self.config.roles().items():
            if role not in KD_ROLES or config.load is not None:
                continue
            path = self.writer.run.checkpoint_path(role, epoch)
            try:
                weights = load_file(str(path))
            except (OSError, SafetensorError):
                return None
            out[role] = copy.deepcopy(models[role])
            out[role].load_state_dict(weights)
        return out

    def kd_epoch(
        self,
        models: Mapping[str, nn.Module],
        epoch: int,
        *,
        step: int | None = None,
        probe: bool = True,
        metrics: bool = False,
        evidence: bool = False,
        group: Group = LocalGroup(),
    ) -> Iterator[Event]:
        """The probe frame of every role, then (when due) metrics rows and evidence. The metrics
        are computed with the other ranks of ``group``, which join in at the same point
        (:meth:`engine.training.follower.FollowerExplanations.kd_epoch`)."""
        config, data = self.config, self.data
        if config.probe and probe:
            probe, normalized = self._probe_set()
            try:
                frame = probe_frame(
                    models, self.specs, probe.images, normalized, probe.clean_labels, data.class_names,
                    epoch=epoch, masks=probe.masks, indices=self.sets["probe"],
                    flags={"step": step, "context": "probe set"},
                )  # fmt: skip
            except KDLensError as exc:
                yield LogLine(f"probe maps skipped at epoch {epoch}: {exc}", level="warning")
            else:
                self.writer.write_probe(frame, step)
                yield frame
        kept: dict = {}  # the metrics' matrices, for the evidence that reads them (the layer map)
        if config.metrics and metrics:
            try:
                rows = self._metrics(models, epoch, group, kept)
            except KDLensError as exc:
                yield LogLine(f"metrics skipped at epoch {epoch}: {exc}", level="warning")
            else:
                self.writer.add_metrics(rows)
                yield from rows
        kept.pop("seconds", None)  # an analysis's timings; a run's epochs do not record them
        if config.evidence and evidence:
            yield from self._evidence(models, epoch, MetricsMatrices(**kept) if kept else None)

    def _metrics(
        self, models: Mapping[str, nn.Module], epoch: int, group: Group, keep: dict | None = None
    ) -> list:
        config, data = self.config, self.data
        metrics_set = data.heldout.subset(self.sets["metrics"])
        return probe_metrics(
            models, self.specs, data.normalized(metrics_set.images).to(self.device),
            metrics_set.clean_labels, num_classes=data.num_classes, epoch=epoch,
            repeats=config.metrics_repeats, seed=config.seed, stop=self.stop, group=group, keep=keep,
        )  # fmt: skip

    def _kd_temperature(self) -> float | None:
        """The run's KD temperature, when its loss has one (agreement's KL at τ = T)."""
        loss = get_kd_loss(self.config.kd.loss)
        return loss.resolve(self.config.kd.params).get("temperature")

    def _evidence(
        self, models: Mapping[str, nn.Module], epoch: int, matrices: MetricsMatrices | None = None
    ) -> Iterator[Event]:
        """Every evidence kind on the held-out split with the run's options (rank 0 alone)."""
        try:
            context = EvidenceContext(
                models, self.specs, self.data.heldout, lambda x: self.data.normalized(x).to(self.device),
                self.config.evidence_settings(), seed=self.config.seed, stop=self.stop, training=True,
                kd_temperature=self._kd_temperature(), metrics=matrices,
            )  # fmt: skip
            result = gather_evidence(context)
        except KDLensError as exc:
            yield LogLine(f"evidence skipped at epoch {epoch}: {exc}", level="warning")
            return
        events = result.events(epoch)
        self.writer.add_evidence(events)
        yield from events
        for claim in result.claims():
            yield LogLine(f"epoch {epoch} {claim.kind} {claim.name}: {claim.line()}")
