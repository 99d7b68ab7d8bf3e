"""Agreement and fidelity (SPEC §11; Stanton et al., "Does Knowledge Distillation Really Work?",
NeurIPS 2021), as an evidence kind: how faithfully each model imitates the teacher's predictions
on held-out images, with p_M = softmax(z_M / τ):

* top-1 agreement A(T, M): mean of 1[argmax p_T = argmax p_M];
* top-5 agreement: mean of 1[argmax p_T ∈ top-5(p_M)] (only with more than 5 classes);
* KL(T ‖ M) = mean of Σ_c p_T,c (log p_T,c − log p_M,c), at τ = 1 and at the KD temperature (the
  run's KD loss's in training; an analysis has no run: the ``temperature`` option, default 4);
* top-1 agreement on the images the teacher gets wrong, separately, with their count: does M
  copy the teacher's mistakes?

Each model (student, base, and the assistant where there is one) against the teacher, each mean
with its 95 % bootstrap interval over images; the student − base paired differences are the
claims (for KL, base − student: positive means the student is closer to the teacher).

``agreement.csv``: one row per model and quantity: ``model``, ``quantity`` (``top1``, ``top5``,
``kl_1``, ``kl_kd``, ``top1_teacher_wrong``), ``mean``, ``ci_low``, ``ci_high``, ``n`` (images:
the teacher's mistakes for ``top1_teacher_wrong``). ``agreement.json``: the temperature and where
it came from, the class count, the teacher's accuracy and mistakes, every interval, the claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import Evidence
from engine.evidence.intervals import Interval, bootstrap_mean, paired_difference, verdict
from engine.evidence.registry import (
    Claim,
    EvidenceKind,
    IntervalPlot,
    Option,
    Outcome,
    claim_study_values,
    register_evidence,
    study_number,
    summary_claims,
)
from engine.vocab import interval_text

__all__ = [
    "AGREEMENT",
    "AgreementResult",
    "agreement",
    "kl_divergence",
    "log_softmax",
    "top1_agreement",
    "top5_agreement",
]

COMPARED = ("student", "base", "assistant")  # each against the teacher, in this order
MISTAKES = "top1_teacher_wrong"
NEEDS = "agreement needs the teacher and at least one other model"

#: name -> (quantity, first, second, difference, meaning when positive); the difference is first - second.
CLAIMS = {
    "top-1": ("top1", "student", "base", "A(T, student) - A(T, base), top-1",
              "the student predicts the teacher's class more often than the base"),
    "top-5": ("top5", "student", "base", "A(T, student) - A(T, base), top-5",
              "the teacher's class is among the student's top five more often than the base's"),
    "KL tau=1": ("kl_1", "base", "student", "KL(T || base) - KL(T || student), tau = 1",
                 "the student's predicted distribution is closer to the teacher's than the base's"),
    "KL tau=KD": ("kl_kd", "base", "student", "KL(T || base) - KL(T || student), tau = {t}",
                  "at the KD temperature, the student's softened distribution is closer to the teacher's "
                  "than the base's"),
    "teacher's mistakes": (MISTAKES, "student", "base",
                           "A(T, student) - A(T, base), top-1, on the images the teacher gets wrong",
                           "the student repeats the teacher's wrong class more often than the base: "
                           "it imitates the teacher beyond the labels (copying, neither good nor bad)"),
}  # fmt: skip


def titles(temperature: float | None) -> dict[str, str]:
    """Quantity -> its title (the KD temperature's value in its KL)."""
    t = "T" if temperature is None else f"{temperature:g}"
    return {
        "top1": "top-1 agreement",
        "top5": "top-5 agreement",
        "kl_1": "KL(T ‖ M), τ = 1",
        "kl_kd": f"KL(T ‖ M), τ = {t}",
        MISTAKES: "top-1 agreement on the teacher's mistakes",
    }


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """log softmax(z / τ) of each row, in float64, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def top1_agreement(teacher: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Per image: 1 when the model's top class is the teacher's (softmax keeps the argmax)."""
    return (np.argmax(teacher, axis=1) == np.argmax(model, axis=1)).astype(np.float64)


def top5_agreement(teacher: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Per image: 1 when the teacher's top class is among the model's five highest."""
    top5 = np.argpartition(-np.asarray(model), 4, axis=1)[:, :5]
    return (top5 == np.argmax(teacher, axis=1)[:, None]).any(axis=1).astype(np.float64)


def kl_divergence(teacher: np.ndarray, model: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per image: KL(p_T ‖ p_M) = Σ_c p_T,c (log p_T,c − log p_M,c), both softened by τ (nats)."""
    log_t, log_m = log_softmax(teacher, temperature), log_softmax(model, temperature)
    return (np.exp(log_t) * (log_t - log_m)).sum(axis=1)


@dataclass(frozen=True)
class AgreementResult:
    """Per model and quantity: the per-image values and their interval; the claims."""

    values: dict[str, dict[str, np.ndarray]]  # role -> quantity -> per-image values
    intervals: dict[str, dict[str, Interval]]
    claims: dict[str, tuple[Interval, str]]  # name -> (difference interval, verdict)
    temperature: float
    classes: int
    teacher_accuracy: float
    mistakes: int

    def rows(self) -> list[dict[str, Any]]:
        """Rows of ``agreement.csv``: model, quantity, mean, ci_low, ci_high, n."""
        out = []
        for role, quantities in self.intervals.items():
            for quantity, interval in quantities.items():
                d = interval.as_dict()
                cells = {k: d[k] for k in ("mean", "ci_low", "ci_high", "n")}
                out.append({"model": role, "quantity": quantity, **cells})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "classes": self.classes,
            "teacher_accuracy": round(self.teacher_accuracy, 6),
            "teacher_mistakes": self.mistakes,
            "quantities": titles(self.temperature),
            "models": {
                role: {q: interval.as_dict() for q, interval in quantities.items()}
                for role, quantities in self.intervals.items()
            },
            "claims": {
                name: {
                    "difference": CLAIMS[name][3].format(t=f"{self.temperature:g}"),
                    **interval.as_dict(),
                    "verdict": verdict_text,
                    "meaning_if_positive": CLAIMS[name][4],
                }
                for name, (interval, verdict_text) in self.claims.items()
            },
        }


def _per_image(teacher: np.ndarray, model: np.ndarray, temperature: float, wrong: np.ndarray):
    values = {"top1": top1_agreement(teacher, model)}
    if teacher.shape[1] > 5:
        values["top5"] = top5_agreement(teacher, model)
    values["kl_1"] = kl_divergence(teacher, model, 1.0)
    values["kl_kd"] = kl_divergence(teacher, model, temperature)
    values[MISTAKES] = values["top1"][wrong]
    return values


def agreement(
    logits: Mapping[str, np.ndarray], labels: np.ndarray, temperature: float, seed: int = 0
) -> AgreementResult:
    """Every model of ``logits`` (role -> (n, classes)) against the teacher's, with intervals over
    the images, and the student − base claims (the KL ones base − student)."""
    teacher = np.asarray(logits["teacher"], dtype=np.float64)
    wrong = np.argmax(teacher, axis=1) != np.asarray(labels)
    values = {
        role: _per_image(teacher, np.asarray(logits[role], dtype=np.float64), temperature, wrong)
        for role in COMPARED
        if role in logits
    }
    intervals = {
        role: {q: bootstrap_mean(v, seed=seed) for q, v in quantities.items()}
        for role, quantities in values.items()
    }
    claims = {}
    for name, (quantity, first, second, _difference, _meaning) in CLAIMS.items():
        if quantity in values.get(first, {}) and quantity in values.get(second, {}):
            interval = paired_difference(values[first][quantity], values[second][quantity], seed=seed)
            claims[name] = (interval, verdict(interval))
    accuracy = float(1.0 - wrong.mean()) if len(wrong) else float("nan")
    return AgreementResult(
        values, intervals, claims, float(temperature), teacher.shape[1], accuracy, int(wrong.sum())
    )


# ---- the evidence kind -------------------------------------------------------------------------


def _temperature(context, settings: Mapping[str, Any]) -> tuple[float, str]:
    """The KD temperature: the run's KD loss's when it has one, else the ``temperature`` option."""
    if context.kd_temperature is not None:
        return float(context.kd_temperature), "the run's KD loss"
    return float(settings["temperature"]), "the agreement temperature option (no KD loss gave one)"


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    positions = context.sets.get("agreement")
    if positions is None or not context.group.leader:
        return None
    logits = context.logits(positions)
    if "teacher" not in logits or not any(role in logits for role in COMPARED):
        return Outcome(note=NEEDS)
    temperature, source = _temperature(context, settings)
    result = agreement(logits, context.labels[positions].numpy(), temperature, seed=context.seed)
    summary = result.as_dict() | {"temperature_source": source}
    return Outcome(summary, result.rows(), images=positions.tolist())


def _claims(summary: Mapping[str, Any]) -> list[Claim]:
    return summary_claims("agreement", summary)


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    named = titles(table.summary.get("temperature"))
    quantities = [q for q in named if any(r["quantity"] == q for r in table.rows)]
    cell = {(r["model"], r["quantity"]): r for r in table.rows}
    rows = []
    for role in dict.fromkeys(r["model"] for r in table.rows):
        shown = [cell.get((role, q)) for q in quantities]
        texts = ["" if r is None else _text(r) for r in shown]
        first = cell.get((role, "top1"))
        rows.append([role, *texts, "" if first is None else first["n"]])
    mistakes = table.summary.get("teacher_mistakes", "")
    headers = [f"{named[q]} (n = {mistakes})" if q == MISTAKES else named[q] for q in quantities]
    return ["model vs teacher", *(f"{h} [95 % interval]" for h in headers), "n"], rows


def _text(row: Mapping[str, Any]) -> str:
    """A cell: agreement as a share; KL with significant digits (at high τ it is often < 0.001)."""
    if not str(row["quantity"]).startswith("kl") or row["mean"] is None:
        return interval_text(row["mean"], row["ci_low"], row["ci_high"])
    bounds = "" if row["ci_low"] is None else f" [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
    return f"{row['mean']:.3g}{bounds}"


def _plot(table: Evidence) -> IntervalPlot | None:
    shown = [q for q in ("top1", "kl_1", "kl_kd") if any(r["quantity"] == q for r in table.rows)]
    if not shown:
        return None
    named = titles(table.summary.get("temperature"))
    cell = {(r["model"], r["quantity"]): (r["mean"], r["ci_low"], r["ci_high"]) for r in table.rows}
    models = list(dict.fromkeys(r["model"] for r in table.rows))
    return IntervalPlot(
        title="Agreement with the teacher and KL(T ‖ M)",
        categories=tuple(named[q] for q in shown),
        short=tuple({"top1": "top-1", "kl_1": "KL τ=1", "kl_kd": "KL τ=T"}[q] for q in shown),
        series={m: [cell.get((m, q), (None, None, None)) for q in shown] for m in models},
        y_label="agreement (share) · KL (nats)",
        reference=0.0,
    )


def _study(table: Evidence) -> dict[str, tuple[float, bool]]:
    values = {f"agreement {r['quantity']} {r['model']}": (study_number(r["mean"]), False) for r in table.rows}
    return values | claim_study_values("agreement", _claims(table.summary))


AGREEMENT = register_evidence(
    EvidenceKind(
        name="agreement",
        title="Agreement and fidelity",
        description=(
            "How often each model predicts the teacher's class (top-1, top-5 with more than 5 classes), "
            "KL(teacher ‖ model) at τ = 1 and at the KD temperature, and agreement on the images the "
            "teacher gets wrong, with 95 % bootstrap intervals over held-out images; the claims are the "
            "student − base differences (for KL, base − student: positive = the student is closer)."
        ),
        run=_run,
        columns=("model", "quantity", "mean", "ci_low", "ci_high", "n"),
        table=_table,
        options=(
            Option("n", 512, "held-out images for agreement and KL", training=128),
            Option("temperature", 4, "KD temperature of KL(T || M) when no run's KD loss gives one", low=1),
        ),
        claims=_claims,
        plot=_plot,
        study=_study,
        uses_embeddings=False,  # predictions only: no class embedding scores these images
        seed_offset=14,
    )
)
