"""One training run, phase by phase: teacher (cross-entropy), the optional assistant (KD from the
teacher), then base and student in lockstep (same batches, same initial weights, same optimiser
and schedule; only the student's loss has the KD term). Yields events; writes the run folder at
every epoch end and commits ``state.json`` last. An epoch is its steps, its summary, its commit
and its explanations.

The session reads the same with one process or many (``group``, :mod:`engine.distributed`).
Every trained role trains through ``group.parallel`` (DistributedDataParallel on several ranks,
the model itself in one process); each global batch of the seeded order (the config's batch
size) is cut into one equal slice per rank, so base and student still see the same data in the
same order; losses and counts are summed over the ranks, so rank 0 reports the global figures.
A stop is checked before each step in one process; on several ranks a stop asked of rank 0
reaches every rank at the end of the step. Rank 0 writes the run folder and explains; another
rank is given a writer that writes nothing and explanations that only join rank 0's FSS/RS
(:mod:`engine.training.follower`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from engine.distributed.group import Group, LocalGroup, per_rank_batch
from engine.events import CheckpointWritten, EpochSummary, Event, LogLine, Progress, StopToken
from engine.losses import get_kd_loss
from engine.models import ModelSpec
from engine.runs.writer import RunWriter
from engine.training.config import TrainConfig
from engine.training.explanations import LiveExplanations
from engine.training.follower import FollowerWriter
from engine.training.loop import (
    augment_batch,
    batches,
    evaluate_accuracy,
    make_optimizer,
    seeded_generator,
    steps_per_epoch,
    thin_curve,
)
from engine.training.pace import Pace
from engine.training.setup import RunData, make_card
from engine.training.steps import feature_taps, role_step
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
        writer: RunWriter | FollowerWriter,
        stop: StopToken,
        group: Group = LocalGroup(),
        explanations: type[LiveExplanations] = LiveExplanations,
    ) -> None:
        """``writer`` and ``explanations`` are rank 0's (a follower's stand-ins on other ranks)."""
        self.config, self.data, self.models, self.specs = config, data, models, specs
        self.sets, self.writer, self.stop, self.group = sets, writer, stop, group
        per_rank_batch(config.batch_size, group.world)  # refuses a batch that does not split evenly
        # the committed epochs are rank 0's (it alone reads the run folder)
        self.completed = writer.completed
        self.completed.update(group.broadcast_object(dict(writer.completed)))
        self.trainers: dict[str, nn.Module] = {}  # role -> the module it trains through
        self.device = torch.device(config.device)
        self.optim: dict[str, tuple[torch.optim.Optimizer, Any]] = {}
        self.heldout_x = data.normalized(data.heldout.images)
        self.heldout_y = data.heldout.clean_labels
        self.trained = [role for role, cfg in config.roles().items() if cfg.load is None]
        self.kd_loss = get_kd_loss(config.kd.loss)
        self.kd_params = config.kd.resolved()
        self.accuracy: dict[str, float] = {}
        self.split_accuracy: dict[str, dict[str, float]] = {}  # further held-out splits, per role
        # on several ranks explanations are not cut short by a stop: the other ranks wait for rank
        # 0's FSS/RS; the stop takes effect at the next step, which every rank sees
        stop_explaining = group.collective_stop(stop)
        self.explain = explanations(config, data, specs, sets, writer, stop_explaining, self.device)
        self.pace = Pace(sum(self._phase_steps(p) * self._phase_epochs(p) for p in self._phases()))

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

    def _last_phase(self, phase: str) -> bool:
        """Whether no phase after ``phase`` has epochs left to train."""
        later = self._phases()[self._phases().index(phase) + 1 :]
        return not any(
            self._phase_epochs(p) > min(self.completed.get(r, 0) for r in self._phase_roles(p)) for p in later
        )

    def _optimizer(self, role: str, steps: int, epochs: int):
        if role not in self.optim:
            lr = self.config.roles()[role].lr or self.config.optimizer.lr
            self.optim[role] = make_optimizer(self.models[role], self.config.optimizer, lr, steps * epochs)
        return self.optim[role]

    def _restore(self, role: str) -> None:
        """The committed epoch's state, read by rank 0: every rank resumes from the same state."""
        state = self.group.broadcast_object(self.writer.load_train_state(role))
        self.models[role].load_state_dict(state["model"])
        optimizer, scheduler = self.optim[role]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])

    # ---- the run -----------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        for phase in self._phases():
            roles = self._phase_roles(phase)
            epochs = self._phase_epochs(phase)
            steps = self._phase_steps(phase)
            start = min(self.completed.get(r, 0) for r in roles)
            for role in roles:
                self._optimizer(role, steps, epochs)
                if start > 0:
                    self._restore(role)
                if role not in self.trainers:
                    self.models[role], self.trainers[role] = self.group.parallel(
                        self.models[role], self.device
                    )
            if start > 0:  # a resume: explanations that a stop or a kill cut short
                yield from self._complete(phase, start)
            self.pace.done += start * steps
            if start >= epochs:
                continue
            if start > 0:
                yield LogLine(f"resuming {', '.join(roles)} after epoch {start}")
            self.pace.start_phase((epochs - start) * steps, self._last_phase(phase))
            for epoch in range(start + 1, epochs + 1):
                yield from self._epoch(phase, roles, epoch, steps)
                self.pace.epoch_done()
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
        if phase == "teacher":
            yield from self.explain.complete_teacher(self.models["teacher"], committed)
        elif phase == "kd":
            yield from self.explain.complete_kd(self.models, committed, self._due)

    def _teacher_for(self, phase: str) -> nn.Module | None:
        if phase == "teacher":
            return None
        if phase == "kd" and "assistant" in self.models:
            return self.models["assistant"]
        return self.models["teacher"]

    # ---- one epoch: steps, summary, commit, explanations ---------------------------------
    def _epoch(self, phase: str, roles: list[str], epoch: int, steps: int) -> Iterator[Event]:
        started = time.perf_counter()
        sums, curves = yield from self._steps(phase, roles, epoch, steps)
        summaries = self._summaries(roles, epoch, sums, curves, time.perf_counter() - started)
        self.writer.add_summaries(summaries)
        yield from summaries
        yield from self._commit(phase, roles, epoch)
        # Probe maps and metrics come after the commit: a frame then always has its epoch's
        # checkpoints on disk (the GUI explains images with them), and a stop asked for during
        # the metrics cannot cost the epoch's training. What a kill cuts short here, a resume
        # completes (``_complete``).
        yield from self._explanations(phase, epoch)

    def _steps(self, phase: str, roles: list[str], epoch: int, steps: int):
        """The epoch's steps over the seeded order, yielding Progress; returns per role
        [loss sum, correct, seen] over every rank's slices, and its (step, mean loss so far) curve."""
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
        curves: dict[str, list[tuple[int, float]]] = {role: [] for role in roles}
        max_steps = config.roles()[roles[-1]].max_steps
        probe_every = config.probe_every_steps if phase == "kd" else 0  # mid-epoch probe frames
        with self._feature_taps(phase, teacher) as features:
            for step, idx in enumerate(batches(len(split), config.batch_size, order, max_steps), start=1):
                self.group.check_stop(self.stop)
                x = split.images[idx]
                if config.augment:
                    x = augment_batch(x, augment)  # drawn for the global batch: the same on every rank
                x, idx = self.group.batch_slice(x), self.group.batch_slice(idx)
                x = self.data.normalized(x).to(self.device)
                y = split.labels[idx].to(self.device)
                counts = self._step(phase, roles, (epoch, step), x, y, teacher, features)
                for role, counted in self.group.step_counts(counts, self.stop).items():
                    sums[role] = [total + new for total, new in zip(sums[role], counted, strict=True)]
                    curves[role].append((step, sums[role][0] / sums[role][2]))
                self.pace.step()
                yield from self._progress(roles, epoch, step, steps, sums)
                if probe_every and step % probe_every == 0 and step < steps:
                    yield from self.explain.kd_epoch(self.models, epoch, step=step)
        return sums, curves

    def _step(self, phase, roles, when: tuple[int, int], x, y, teacher, features) -> dict[str, tuple]:
        """Every role's step on this rank's slice; per role (loss sum, correct, seen)."""
        teacher_logits = None
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(x)
        counts = {}
        for role in roles:
            kd = None
            if teacher_logits is not None and role != "base":
                kd = (self.kd_loss, self.kd_params, teacher_logits, features)
            loss, logits = role_step(self.trainers[role], self.optim[role], x, y, kd, (role, *when))
            counts[role] = (float(loss) * len(y), int((logits.argmax(1) == y).sum()), len(y))
        return counts

    def _progress(self, roles, epoch: int, step: int, steps: int, sums) -> Iterator[Progress]:
        eta, phase_eta = self.pace.eta()
        for role in roles:
            loss_sum, correct, seen = sums[role]
            yield Progress(
                role, epoch, step, steps, self.pace.done, self.pace.total, loss_sum / seen, correct / seen,
                eta, phase_eta_seconds=phase_eta,
            )  # fmt: skip

    def _summaries(self, roles, epoch: int, sums, curves, seconds: float) -> list[EpochSummary]:
        summaries = []
        for role in roles:
            loss_sum, correct, seen = sums[role]
            heldout = evaluate_accuracy(self.models[role], self.heldout_x, self.heldout_y)
            curve = thin_curve(curves[role])
            summary = EpochSummary(role, epoch, loss_sum / seen, correct / seen, heldout, seconds, curve)
            summaries.append(summary)
        return summaries

    def _commit(self, phase: str, roles: list[str], epoch: int) -> Iterator[Event]:
        """Every role's weights and training state, then ``state.json``: the epoch counts from here."""
        written = []
        for role in roles:
            optimizer, scheduler = self.optim[role]
            state = {
                "model": self.models[role].state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
            }
            card = make_card(self.config.roles()[role].arch, self.data, role, epoch=epoch)
            path = self.writer.save_role(
                role, self.models[role], card, epoch, state, keep_epoch=phase == "kd"
            )
            written.append(CheckpointWritten(role, epoch, str(path)))
            self.completed[role] = epoch
        self.writer.commit(finished=False)
        yield from written

    def _explanations(self, phase: str, epoch: int) -> Iterator[Event]:
        if phase == "teacher":
            yield from self.explain.teacher_frame(self.models["teacher"], epoch)
        if phase == "kd":
            metrics, evidence = self._due(epoch)
            yield from self.explain.kd_epoch(
                self.models, epoch, metrics=metrics, evidence=evidence, group=self.group
            )

    def _feature_taps(self, phase: str, teacher: nn.Module | None):
        """The student's and teacher's stage outputs while a feature-based KD loss trains."""
        student_role = "student" if phase == "kd" else phase
        if teacher is None or not self.kd_loss.needs_features or student_role not in self.trained:
            return feature_taps(None, None, self.specs, (student_role, "teacher"))
        teacher_role = "assistant" if phase == "kd" and "assistant" in self.models else "teacher"
        return feature_taps(self.models[student_role], teacher, self.specs, (student_role, teacher_role))
