"""What ``gpu_check.py`` compares: a device's report against the CPU's, figure by figure, each
kind of figure to its own tolerance (maps per image; FSS/RS with their bands; each evidence kind's
headline figures; ROAD only finite)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.reports.folder import ReportContents
from engine.vocab import MAP_KEYS

__all__ = ["Checks", "compare_reports"]

ROLES = ("teacher", "student", "base")


@dataclass
class Checks:
    """Failures found so far, and the timings, printed at the end."""

    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)
            print(f"  MISMATCH {what}")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return 1.0 if scale == 0.0 else float((a * b).sum() / scale)


def compare_reports(cpu: ReportContents, other: ReportContents, name: str, tol: dict, checks: Checks) -> None:
    """Maps per image, FSS/RS with their bands and the evidence (:func:`compare_evidence`):
    ``other`` against the CPU's, to the tolerances in ``tol`` (keys map_mad, map_corr, metric,
    evidence, sanity, predictions)."""
    print(f"{name} against the CPU:")
    checks.expect(
        list(cpu.manifest["probe_indices"]) == list(other.manifest["probe_indices"]),
        f"{name}: the probe images differ (the sets must not depend on the device)",
    )
    for key in MAP_KEYS:
        a, b = cpu.frame.maps[key].astype(np.float64), other.frame.maps[key].astype(np.float64)
        checks.expect(bool(np.isfinite(b).all()), f"{name}: {key} has non-finite values")
        mad = float(np.abs(a - b).mean(axis=(1, 2)).max())
        corr = min(_correlation(x, y) for x, y in zip(a, b, strict=True))
        print(f"  map {key:16s} worst image: mean |diff| {mad:.4f}, correlation {corr:.4f}")
        checks.expect(mad <= tol["map_mad"], f"{name}: {key} mean |diff| {mad:.4f} > {tol['map_mad']}")
        checks.expect(corr >= tol["map_corr"], f"{name}: {key} correlation {corr:.4f} < {tol['map_corr']}")
    reference = {(r.metric, r.layer): r for r in cpu.rows}
    shown = {(r.metric, r.layer): r for r in other.rows}
    checks.expect(
        set(reference) == set(shown), f"{name}: other metric rows ({len(shown)} vs {len(reference)})"
    )
    worst = 0.0
    for key, row in reference.items():
        if key not in shown:
            continue
        for part in ("mean", "low", "high"):
            x, y = getattr(row, part), getattr(shown[key], part)
            if np.isfinite(x) or np.isfinite(y):
                diff = abs(x - y) if np.isfinite(x) and np.isfinite(y) else np.inf
                worst = max(worst, diff)
                checks.expect(
                    diff <= tol["metric"], f"{name}: {key[0]} at {key[1]} {part}: {x:.4f} vs {y:.4f}"
                )
    print(f"  FSS/RS ({len(reference)} values with their bands): largest |diff| {worst:.4f}")
    compare_evidence(cpu, other, name, tol, checks)


def _number(value) -> float:
    return np.nan if value is None or value == "" else float(value)


def _sanity_figures(rows) -> dict:
    """Every row's rank correlation and its interval, keyed by step, layers re-initialised and map."""
    return {
        (r["step"], r["randomised"], r["map"], part): _number(r[part])
        for r in rows
        for part in ("spearman", "ci_low", "ci_high")
    }


#: kind -> (its tolerance's key, its headline figures: key -> value). ROAD is checked apart.
EVIDENCE_FIGURES = {
    "localisation": ("evidence", lambda rows: {r["map"]: _number(r["mean"]) for r in rows}),
    "sanity": ("sanity", _sanity_figures),
    "agreement": (
        "predictions",
        lambda rows: {(r["model"], r["quantity"]): _number(r["mean"]) for r in rows},
    ),
    "calibration": ("predictions", lambda rows: {r["model"]: _number(r["ece"]) for r in rows}),
    "layers": (
        "metric",
        lambda rows: {(r["pair"], r["row"], r["column"], r["measure"]): _number(r["mean"]) for r in rows},
    ),
    "classes": (
        "predictions",
        lambda rows: {
            (r["class"], role): _number(r[f"accuracy_{role}"])
            for r in rows
            for role in ROLES
            if f"accuracy_{role}" in r
        },
    ),
}


def compare_evidence(
    cpu: ReportContents, other: ReportContents, name: str, tol: dict, checks: Checks
) -> None:
    """Each kind's headline figures against the CPU's (the same keys, each within its kind's
    tolerance); ROAD's scores only finite."""
    tables = {t.kind: t for t in cpu.evidence}
    shown = {t.kind: t for t in other.evidence}
    for kind, (key, figures) in EVIDENCE_FIGURES.items():
        if kind not in tables and kind not in shown:
            continue
        checks.expect(kind in tables and kind in shown, f"{name}: {kind} is in one report only")
        if kind not in tables or kind not in shown:
            continue
        a, b = figures(tables[kind].rows), figures(shown[kind].rows)
        checks.expect(set(a) == set(b), f"{name}: {kind} rows differ ({len(b)} vs {len(a)} figures)")
        both = [(a[k], b[k]) for k in a if k in b and (np.isfinite(a[k]) or np.isfinite(b[k]))]
        diffs = [abs(x - y) if np.isfinite(x) and np.isfinite(y) else np.inf for x, y in both]
        worst = max(diffs, default=0.0)
        print(f"  {kind} ({len(a)} figures): largest |diff| {worst:.2e} (tolerance {tol[key]:g})")
        checks.expect(worst <= tol[key], f"{name}: {kind} differs by {worst:.2e} > {tol[key]:g}")
    if "faithfulness" in shown:
        scores = [r["score"] for r in shown["faithfulness"].rows if r["score"] not in (None, "")]
        finite = bool(scores) and bool(np.isfinite(np.asarray(scores, float)).all())
        checks.expect(finite, f"{name}: ROAD scores not finite")
