"""Calibration (SPEC §11; Guo et al., "On Calibration of Modern Neural Networks", ICML 2017), as an
evidence kind: is each model's confidence worth its accuracy, and is the student better
calibrated than the base?

Per model (teacher, student, base, assistant), confidence = max_c softmax(z)_c at τ = 1 and
correct = 1[argmax = true class], on held-out images:

* ECE = Σ_b (|B_b| / n) · |acc(B_b) − conf(B_b)| over 15 equal-width confidence bins
  ((0, 1/15], (1/15, 2/15], ..., (14/15, 1], as Guo et al.; torchmetrics'
  ``CalibrationError(norm="l1", n_bins=15)`` gives the same value unless a confidence lies exactly
  on a bin edge), with a 95 % bootstrap interval over images;
* the equal-mass ECE beside it: 15 bins of equal count (images sorted by confidence, split into
  15 runs whose sizes differ by one at most);
* accuracy and mean confidence; the reliability diagram (each non-empty equal-width bin's mean
  confidence and accuracy).

The claim: ECE(base) − ECE(student) > 0, the student is better calibrated; ECE is not a mean of
per-image values, so its interval resamples whole images, both models on the same draws
(:func:`engine.evidence.intervals.paired_bootstrap`).

``calibration.csv``: one row per model: ``model``, ``ece``, ``ci_low``, ``ci_high`` (its 95 %
interval), ``ece_equal_mass``, ``accuracy``, ``confidence`` (mean), ``n``. ``calibration.json``: the
same per model, the reliability bins per model (``low``, ``high``, ``count``, ``confidence``,
``accuracy``) and the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import Evidence
from engine.evidence.intervals import Interval, paired_bootstrap, verdict
from engine.evidence.registry import (
    Claim,
    EvidenceKind,
    LinePlot,
    Option,
    Outcome,
    claim_study_values,
    register_evidence,
    study_number,
    summary_claims,
)

__all__ = [
    "BINS",
    "CALIBRATION",
    "CalibrationResult",
    "calibration",
    "confidence_and_correct",
    "equal_mass_bins",
    "equal_width_bins",
    "expected_calibration_error",
]

BINS = 15
ROLES = ("teacher", "student", "base", "assistant")
PERFECT = "perfect calibration"  # drawn light grey: the base is mid grey
DIFFERENCE = "ECE(base) - ECE(student)"
MEANING = "the student is better calibrated than the base (smaller ECE, 15 equal-width bins)"


def confidence_and_correct(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the top softmax probability (τ = 1) and 1.0 when the top class is the label."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    probabilities = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    correct = (np.argmax(z, axis=1) == np.asarray(labels)).astype(np.float64)
    return probabilities.max(axis=1), correct


def equal_width_bins(confidence: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each confidence's bin among ``bins`` equal-width bins (lo, hi] of [0, 1] (0 joins the first)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, np.asarray(confidence), side="left") - 1, 0, bins - 1)


def equal_mass_bins(confidence: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each image's bin among ``bins`` bins of equal count: sorted by confidence (ties in image
    order), cut into runs whose sizes differ by one at most."""
    order = np.argsort(np.asarray(confidence), kind="stable")
    out = np.empty(len(order), dtype=np.int64)
    for number, part in enumerate(np.array_split(order, bins)):
        out[part] = number
    return out


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bin_of: np.ndarray, bins: int = BINS
) -> float:
    """Σ_b (|B_b| / n) |acc(B_b) − conf(B_b)| = Σ_b |Σ_{i ∈ B_b} (correct_i − conf_i)| / n."""
    gaps = np.bincount(bin_of, weights=np.asarray(correct) - np.asarray(confidence), minlength=bins)
    return float(np.abs(gaps).sum() / len(bin_of))


def _resampled_ece(
    gap: np.ndarray, bin_of: np.ndarray, bins: int = BINS
) -> Callable[[np.ndarray], np.ndarray]:
    """The ECE of each resample (rows of image indices), bins fixed per image (equal width)."""

    def statistic(indices: np.ndarray) -> np.ndarray:
        r, n = indices.shape
        cells = (np.arange(r)[:, None] * bins + bin_of[indices]).ravel()
        sums = np.bincount(cells, weights=gap[indices].ravel(), minlength=r * bins)
        return np.abs(sums.reshape(r, bins)).sum(axis=1) / n

    return statistic


def _reliability(confidence: np.ndarray, correct: np.ndarray, bin_of: np.ndarray) -> list[dict[str, Any]]:
    """The non-empty equal-width bins: edges, count, mean confidence, accuracy."""
    out = []
    for b in np.unique(bin_of):
        inside = bin_of == b
        out.append({
            "low": round(int(b) / BINS, 6), "high": round((int(b) + 1) / BINS, 6), "count": int(inside.sum()),
            "confidence": round(float(confidence[inside].mean()), 6),
            "accuracy": round(float(correct[inside].mean()), 6),
        })  # fmt: skip
    return out


@dataclass(frozen=True)
class CalibrationResult:
    """Per model: ECE with its interval, equal-mass ECE, accuracy, confidence, reliability bins;
    the student − base claim."""

    models: dict[str, dict[str, Any]]  # role -> ece (Interval), ece_equal_mass, accuracy, confidence, n
    reliability: dict[str, list[dict[str, Any]]]
    claim: tuple[Interval, str] | None

    def rows(self) -> list[dict[str, Any]]:
        """Rows of ``calibration.csv``."""
        out = []
        for role, m in self.models.items():
            d = m["ece"].as_dict()
            out.append({
                "model": role, "ece": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                **{k: round(m[k], 6) for k in ("ece_equal_mass", "accuracy", "confidence")}, "n": m["n"],
            })  # fmt: skip
        return out

    def as_dict(self) -> dict[str, Any]:
        claims = {}
        if self.claim is not None:
            interval, verdict_text = self.claim
            claims["ECE"] = {
                "difference": DIFFERENCE,
                **interval.as_dict(),
                "verdict": verdict_text,
                "meaning_if_positive": MEANING,
            }
        rows = {r["model"]: {k: v for k, v in r.items() if k != "model"} for r in self.rows()}
        return {
            "bins": BINS,
            "binning": "equal-width (lo, hi] (Guo et al. 2017); equal-mass beside it",
            "models": rows,
            "reliability": self.reliability,
            "claims": claims,
        }


def calibration(logits: Mapping[str, np.ndarray], labels: np.ndarray, seed: int = 0) -> CalibrationResult:
    """Calibration of every model of ``logits`` (role -> (n, classes)) and the student − base claim."""
    models, reliability, statistics = {}, {}, {}
    for role in (r for r in ROLES if r in logits):
        confidence, correct = confidence_and_correct(logits[role], labels)
        bin_of = equal_width_bins(confidence)
        statistics[role] = _resampled_ece(correct - confidence, bin_of)
        models[role] = {
            "ece": paired_bootstrap(statistics[role], len(confidence), seed=seed),
            "ece_equal_mass": expected_calibration_error(confidence, correct, equal_mass_bins(confidence)),
            "accuracy": float(correct.mean()),
            "confidence": float(confidence.mean()),
            "n": len(confidence),
        }
        reliability[role] = _reliability(confidence, correct, bin_of)
    claim = None
    if "student" in statistics and "base" in statistics:
        student, base = statistics["student"], statistics["base"]
        interval = paired_bootstrap(lambda i: base(i) - student(i), len(labels), seed=seed)
        claim = (interval, verdict(interval))
    return CalibrationResult(models, reliability, claim)


# ---- the evidence kind -------------------------------------------------------------------------


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    positions = context.sets.get("calibration")
    if positions is None or not context.group.leader:
        return None
    result = calibration(context.logits(positions), context.labels[positions].numpy(), seed=context.seed)
    return Outcome(result.as_dict(), result.rows(), images=positions.tolist())


def _claims(summary: Mapping[str, Any]) -> list[Claim]:
    return summary_claims("calibration", summary)


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [
            r["model"],
            f"{r['ece']:.4f}" + ("" if r["ci_low"] is None else f" [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"),
            f"{r['ece_equal_mass']:.4f}",
            f"{r['accuracy']:.4f}",
            f"{r['confidence']:.4f}",
            r["n"],
        ]
        for r in table.rows
    ]
    headers = ["model", "ECE, 15 equal-width bins [95 % interval]", "ECE, 15 equal-mass bins"]
    return [*headers, "accuracy", "mean confidence", "n"], rows


def _plot(table: Evidence) -> LinePlot | None:
    bins = table.summary.get("reliability") or {}
    if not bins:
        return None
    series: dict[str, tuple[list[float], list[Any], list[Any], list[Any]]] = {
        PERFECT: ([0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0])
    }
    for role, cells in bins.items():
        x = [c["confidence"] for c in cells]
        y = [c["accuracy"] for c in cells]
        series[role] = (x, y, y, y)  # no band: a bin's count is in the JSON
    return LinePlot(
        title="Reliability diagram (15 equal-width bins)",
        series=series,
        x_label="confidence (mean in the bin)",
        y_label="accuracy in the bin",
        colours={PERFECT: "#d9d9d9"},
    )


def _study(table: Evidence) -> dict[str, tuple[float, bool]]:
    values = {}
    for r in table.rows:
        for key in ("ece", "ece_equal_mass", "accuracy"):
            values[f"calibration {key} {r['model']}"] = (study_number(r[key]), False)
    return values | claim_study_values("calibration", _claims(table.summary))


CALIBRATION = register_evidence(
    EvidenceKind(
        name="calibration",
        title="Calibration",
        description=(
            "Expected calibration error of each model (confidence = top softmax probability; 15 "
            "equal-width bins as Guo et al. 2017, the equal-mass variant beside it), accuracy and mean "
            "confidence, and the reliability diagram; the claim: ECE(base) − ECE(student) > 0, with a "
            "95 % bootstrap interval over held-out images."
        ),
        run=_run,
        columns=("model", "ece", "ci_low", "ci_high", "ece_equal_mass", "accuracy", "confidence", "n"),
        table=_table,
        options=(
            Option("n", 512, "held-out images for calibration (same size: agreement's set)", training=128),
        ),
        claims=_claims,
        plot=_plot,
        study=_study,
        uses_embeddings=False,  # predictions only: no class embedding scores these images
        seed_offset=14,  # agreement's: the same size, the same images, one prediction pass for both
    )
)
