"""All the evidence of one teacher / student / base trio on held-out data, as training (at its
evidence cadence), analysis and studies compute it: every registered kind
(:mod:`engine.evidence.registry`), in order, on its own seeded, class-balanced held-out set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.devices import clock
from engine.events import Evidence
from engine.evidence.context import EvidenceContext
from engine.evidence.registry import Claim, Outcome, claims_of, evidence_kinds

__all__ = ["EvidenceResult", "gather_evidence"]


@dataclass(frozen=True)
class EvidenceResult:
    """Each kind's outcome (rank 0's; empty on the other ranks) and the held-out positions each
    kind's set holds."""

    outcomes: dict[str, Outcome]
    sets: dict[str, list[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # each kind's time (the manifest's timings)

    @property
    def notes(self) -> dict[str, str]:
        """Why a kind could not run on these data (e.g. no object masks)."""
        return {kind: o.note for kind, o in self.outcomes.items() if o.note is not None}

    def events(self, epoch: int) -> list[Evidence]:
        """The result as events (what training streams and run folders and reports store)."""
        return [outcome.event(kind, epoch) for kind, outcome in self.outcomes.items()]

    def claims(self) -> list[Claim]:
        return claims_of(self.events(0))


def gather_evidence(context: EvidenceContext) -> EvidenceResult:
    """Run every registered kind on ``context`` (every rank of a distributed run calls this). A
    kind that picks its own images (e.g. per class) has them recorded with the sets."""
    outcomes, seconds = {}, {}
    sets = {kind: positions.tolist() for kind, positions in context.sets.items()}
    for kind in evidence_kinds():
        started = clock(context.device)
        outcome = kind.run(context, context.settings[kind.name])
        seconds[kind.name] = round(clock(context.device) - started, 3)
        if outcome is not None:
            outcomes[kind.name] = outcome
            if outcome.images and kind.name not in sets:
                sets[kind.name] = [int(i) for i in outcome.images]
    return EvidenceResult(outcomes, sets, seconds)
