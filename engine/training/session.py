"""One training run, phase by phase: teacher (cross-entropy), the optional assistant (KD from the
teacher), then base and student in lockstep (same batches, same initial weights, same optimiser
and schedule; only the student's loss has the KD term). Yields events; writes the run folder at
every epoch end and commits ``state.json`` last.

Distributed (``ranks``, :mod:`engine.distributed`): every trained role runs under
DistributedDataParallel; each global batch of the seeded order (the config's batch size) is cut
into one equal slice per rank, so base and student still see the same data in the same order;
losses and counts are summed over ranks, so rank 0 reports the global figures. Only rank 0
writes the run folder and explains; the others join it for the FSS/RS of each due epoch. A stop
asked of rank 0 reaches every rank at the end of the step. With no ``ranks`` nothing of this
runs and the one-process path is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.cam.hooks import output_hooks
from engine.distributed.group import Ranks, per_rank_batch
from engine.distributed.lockstep import data_parallel, global_counts, rank_slice
from engine.events import CheckpointWritten, EpochSummary, Event, LogLine, Progress, StopToken
from engine.losses import KDInputs, get_kd_loss
from engine.models import ModelSpec
from engine.runs.writer import RunWriter
from engine.training.config import TrainConfig
from engine.training.explanations import LiveExplanations
from engine.training.loop import (
    augment_batch,
    batches,
    check_finite,
    collector,
    evaluate_accuracy,
    latest_features,
    make_optimizer,
    seeded_generator,
    steps_per_epoch,
)
from engine.training.setup import RunData, make_card
from engine.vocab import KD_ROLES


class TrainingSession:
    """Holds the models, optimisers and run folder of one run while its phases execute."""

    def __init__(
        self,
        config: TrainConfig,
        data: RunData,
        models: dict[str, nn.Module],
        specs: dict[str, ModelSpec],
        sets: dict[str, Any],
        writer: RunWriter,
        stop: StopToken,
        ranks: Ranks | None = None,
    ) -> None:
        self.config, self.data, self.models, self.specs = config, data, models, specs
        self.sets, self.writer, self.stop = sets, writer, stop
        self.ranks = ranks
        self.leader = ranks is None or ranks.leader
        self.trainers: dict[str, nn.Module] = {}  # role -> its DistributedDataParallel wrapper
        if ranks is not None:
            per_rank_batch(config.batch_size, ranks.world)  # refuses a batch that does not split evenly
            # the committed epochs are rank 0's (it alone reads the run folder)
            self.completed = writer.completed if self.leader else {}
            self.completed.update(ranks.broadcast_object(dict(writer.completed) if self.leader else None))
        else:
            self.completed = writer.completed
        self.device = torch.device(config.device)
        self.optim: dict[str, tuple[torch.optim.Optimizer, Any]] = {}
        self.heldout_x = data.normalized(data.heldout.images)
        self.heldout_y = data.heldout.clean_labels
        self.trained = [role for role, cfg in config.roles().items() if cfg.load is None]
        self.kd_loss = get_kd_loss(config.kd.loss)
        self.kd_params = config.kd.resolved()
        self.accuracy: dict[str, float] = {}
        self.split_accuracy: dict[str, dict[str, float]] = {}  # further held-out splits, per role
        # distributed, explanations are not cut short by a stop: the other ranks wait for rank 0's
        # FSS/RS; the stop takes effect at the next step, which every rank sees
        explain_stop = stop if ranks is None else StopToken()
        self.explain = LiveExplanations(config, data, specs, sets, writer, explain_stop, self.device)
        # ETA bookkeeping: each phase is timed on its own (a teacher step and a lockstep KD step
        # cost very different times); a phase's pace is known once one of its epochs is done.
        self.total = sum(self._phase_steps(p) * self._phase_epochs(p) for p in self._phases())
        self.done = 0
        self.clock = time.perf_counter()  # when the current phase's measured stretch started
        self.done_at_start = 0  # ``done`` at that moment
        self.phase_end = 0  # ``done`` once the current phase is over
        self.last_phase = False  # no phase with steps left comes after the current one
        self.phase_pace: tuple[float, int] | None = None  # (seconds, steps) of its finished epochs

    # ---- bookkeeping -------------------------------------------------------------------
    def _phases(self) -> list[str]:
        """Phase names in order: 'teacher', 'assistant', 'kd' (only those that train)."""
        phases = [r for r in ("teacher", "assistant") if r in self.trained]
        if any(r in self.trained for r in KD_ROLES):
            phases.append("kd")
        return phases

    def _phase_roles(self, phase: str) -> list[str]:
        return [r for r in KD_ROLES if r in self.trained] if phase == "kd" else [phase]

    def _phase_epochs(self, phase: str) -> int:
        return self.config.roles()[self._phase_roles(phase)[-1]].epochs

    def _phase_steps(self, phase: str) -> int:
        role = self._phase_roles(phase)[-1]
        split = self.data.teacher_train if phase == "teacher" else self.data.student_train
        return steps_per_epoch(len(split), self.config.batch_size, self.config.roles()[role].max_steps)

    def _eta(self) -> tuple[float | None, float | None]:
        """(whole job, current phase) seconds left, from the wall time of this phase's finished
        epochs (their probe maps, metrics and checkpoints included) and the steps it has left.
        None until one epoch of the phase has finished; the whole job's stays None while a later
        phase has not run yet, since its pace is unknown."""
        if self.phase_pace is None:
            return None, None
        seconds, steps = self.phase_pace
        phase_left = seconds / max(steps, 1) * max(0, self.phase_end - self.done)
        return (phase_left if self.last_phase else None), phase_left

    def _start_phase_clock(self, phase: str, epochs_left: int, steps: int) -> None:
        self.done_at_start = self.done
        self.clock = time.perf_counter()
        self.phase_end = self.done + epochs_left * steps
        later = self._phases()[self._phases().index(phase) + 1 :]
        self.last_phase = not any(
            self._phase_epochs(p) > min(self.completed.get(r, 0) for r in self._phase_roles(p)) for p in later
        )
        self.phase_pace = None

    def _optimizer(self, role: str, steps: int, epochs: int):
        if role not in self.optim:
            lr = self.config.roles()[role].lr or self.config.optimizer.lr
            self.optim[role] = make_optimizer(self.models[role], self.config.optimizer, lr, steps * epochs)
        return self.optim[role]

    def _restore(self, role: str) -> None:
        if self.ranks is None:
            state = self.writer.load_train_state(role)
        else:  # rank 0 reads the run folder; every rank resumes from the same state
            state = self.ranks.broadcast_object(self.writer.load_train_state(role) if self.leader else None)
        self.models[role].load_state_dict(state["model"])
        optimizer, scheduler = self.optim[role]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])

    # ---- the run -----------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        completed = self.completed
        for phase in self._phases():
            roles = self._phase_roles(phase)
            epochs = self._phase_epochs(phase)
            steps = self._phase_steps(phase)
            start = min(completed.get(r, 0) for r in roles)
            for role in roles:
                self._optimizer(role, steps, epochs)
                if start > 0:
                    self._restore(role)
            if self.ranks is not None:
                for role in roles:
                    if role not in self.trainers:
                        self.models[role], self.trainers[role] = data_parallel(self.models[role], self.device)
            if start > 0 and self.leader:  # a resume: explanations that a stop or a kill cut short
                yield from self._complete(phase, start)
            self.done += start * steps
            if start >= epochs:
                continue
            if start > 0:
                yield LogLine(f"resuming {', '.join(roles)} after epoch {start}")
            self._start_phase_clock(phase, epochs - start, steps)
            for epoch in range(start + 1, epochs + 1):
                yield from self._epoch(phase, roles, epoch, steps)
                self.phase_pace = (time.perf_counter() - self.clock, self.done - self.done_at_start)
        if not self.leader:
            return
        for role in self.models:
            self.accuracy[role] = evaluate_accuracy(self.models[role], self.heldout_x, self.heldout_y)
        for split, images in self.data.extra_heldout.items():  # e.g. the cue-flipped split
            self.split_accuracy[split] = {
                role: evaluate_accuracy(model, self.data.normalized(images.images), images.clean_labels)
                for role, model in self.models.items()
            }

    def _due(self, epoch: int) -> tuple[bool, bool]:
        """Whether KD epoch ``epoch`` gets (metrics, evidence): at their cadence and at the last."""
        last = epoch == self._phase_epochs("kd")
        every = self.config.evidence_every
        return last or epoch % self.config.metrics_every == 0, last or bool(every and epoch % every == 0)

    def _complete(self, phase: str, committed: int) -> Iterator[Event]:
        if phase == "teacher" and self.config.probe and self.writer.teacher_frame_epoch() != committed:
            yield from self.explain.teacher_frame(self.models["teacher"], committed)
        elif phase == "kd":
            yield from self.explain.complete_kd(self.models, committed, self._due)

    def _teacher_for(self, phase: str) -> nn.Module | None:
        if phase == "teacher":
            return None
        if phase == "kd" and "assistant" in self.models:
            return self.models["assistant"]
        return self.models["teacher"]

    def _epoch(self, phase: str, roles: list[str], epoch: int, steps: int) -> Iterator[Event]:
        config = self.config
        split = self.data.teacher_train if phase == "teacher" else self.data.student_train
        order = seeded_generator(config.seed, phase, epoch, "order")
        augment = seeded_generator(config.seed, phase, epoch, "augment")
        torch.manual_seed(seeded_generator(config.seed, phase, epoch, "global").initial_seed())
        teacher = self._teacher_for(phase)
        if teacher is not None:
            teacher.eval()
        for role in roles:
            self.models[role].train()
        sums = {role: [0.0, 0, 0] for role in roles}  # loss sum, correct, seen
        started = time.perf_counter()
        max_steps = config.roles()[roles[-1]].max_steps
        with self._attention_features(phase, teacher) as features:
            for step, idx in enumerate(batches(len(split), config.batch_size, order, max_steps), start=1):
                if self.ranks is None:
                    self.stop.check()
                x = split.images[idx]
                if config.augment:
                    x = augment_batch(x, augment)  # drawn for the global batch: the same on every rank
                if self.ranks is not None:  # this rank's slice of the global batch
                    x, idx = rank_slice(x, self.ranks), rank_slice(idx, self.ranks)
                x = self.data.normalized(x).to(self.device)
                y = split.labels[idx].to(self.device)
                teacher_logits = None
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(x)
                counts = {}
                for role in roles:
                    loss, logits = self._step(phase, role, epoch, step, x, y, teacher_logits, features)
                    counts[role] = (float(loss) * len(y), int((logits.argmax(1) == y).sum()), len(y))
                if self.ranks is not None:
                    counts = global_counts(counts, self.ranks, self.stop)
                for role in roles:
                    total = sums[role]
                    total[0] += counts[role][0]
                    total[1] += counts[role][1]
                    total[2] += counts[role][2]
                self.done += 1
                eta, phase_eta = self._eta()
                for role in roles:
                    loss_sum, correct, seen = sums[role]
                    yield Progress(
                        role,
                        epoch,
                        step,
                        steps,
                        self.done,
                        self.total,
                        loss_sum / seen,
                        correct / seen,
                        eta,
                        phase_eta_seconds=phase_eta,
                    )
                if (
                    self.leader
                    and phase == "kd"
                    and config.probe_every_steps
                    and step % config.probe_every_steps == 0
                    and step < steps
                ):
                    yield from self.explain.kd_epoch(self.models, epoch, step=step)
        seconds = time.perf_counter() - started
        summaries = []
        for role in roles:
            loss_sum, correct, seen = sums[role]
            heldout = (
                evaluate_accuracy(self.models[role], self.heldout_x, self.heldout_y) if self.leader else None
            )
            summaries.append(EpochSummary(role, epoch, loss_sum / seen, correct / seen, heldout, seconds))
        if self.leader:  # a follower's history starts empty on resume: its write would drop lines
            self.writer.add_summaries(summaries)
        yield from summaries
        if not self.leader:  # rank 0 writes the epoch; the others join it for the FSS/RS when due
            for role in roles:
                self.completed[role] = epoch
            if phase == "kd" and self._due(epoch)[0]:
                self.explain.share_metrics(self.models, epoch, self.ranks)
            return
        written = []
        for role in roles:
            optimizer, scheduler = self.optim[role]
            state = {
                "model": self.models[role].state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
            }
            card = make_card(config.roles()[role].arch, self.data, role, epoch=epoch)
            path = self.writer.save_role(
                role, self.models[role], card, epoch, state, keep_epoch=phase == "kd"
            )
            written.append(CheckpointWritten(role, epoch, str(path)))
            self.writer.completed[role] = epoch
        self.writer.commit(finished=False)
        yield from written
        # Probe maps and metrics come after the commit: a frame then always has its epoch's
        # checkpoints on disk (the GUI explains images with them), and a stop asked for during
        # the metrics cannot cost the epoch's training. What a kill cuts short here, a resume
        # completes (``_complete``).
        if phase == "teacher":
            yield from self.explain.teacher_frame(self.models["teacher"], epoch)
        if phase == "kd":
            metrics, evidence = self._due(epoch)
            yield from self.explain.kd_epoch(
                self.models, epoch, metrics=metrics, evidence=evidence, ranks=self.ranks
            )

    def _step(self, phase, role, epoch, step, x, y, teacher_logits, features):
        model = self.models[role]
        optimizer, scheduler = self.optim[role]
        logits = self.trainers.get(role, model)(x)
        if teacher_logits is None or role == "base":
            loss = F.cross_entropy(logits, y)
        else:
            student_features, teacher_features = latest_features(features)
            inputs = KDInputs(logits, teacher_logits, y, student_features, teacher_features)
            loss = self.kd_loss.function(inputs, **self.kd_params)
        check_finite(loss, role, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss.detach(), logits.detach()

    @contextmanager
    def _attention_features(self, phase: str, teacher: nn.Module | None):
        """Forward hooks collecting matched stage outputs while a feature-based KD loss trains."""
        if teacher is None or not self.kd_loss.needs_features:
            yield None
            return
        student_role = "student" if phase == "kd" else phase
        if student_role not in self.trained:
            yield None
            return
        teacher_role = "assistant" if phase == "kd" and "assistant" in self.models else "teacher"
        taps_s, taps_t = self.specs[student_role].metric_taps, self.specs[teacher_role].metric_taps
        count = min(len(taps_s), len(taps_t))
        captured: dict[str, list[torch.Tensor]] = {"student": [], "teacher": []}
        with (
            output_hooks(self.models[student_role], taps_s[-count:], collector(captured["student"])),
            output_hooks(teacher, taps_t[-count:], collector(captured["teacher"])),
        ):
            yield captured
