"""Which classes distillation helped, or hurt (SPEC §11), as an evidence kind: per class c,

* on the class's own held-out images (a class-balanced set, ``per_class`` images of every class):
  each model's accuracy, the student's and the base's top-1 agreement with the teacher, and FSS
  (R* of the student's, and of the base's, deepest tap with the teacher's) with its 5-95 % band
  over subsamples of the class's images; the KD effect accuracy(student) − accuracy(base) with its
  95 % bootstrap interval over the class's images and a verdict;
* one-vs-rest on the whole metrics set (within one class the labels are constant and RS is
  undefined): RS(S), RS(B), RS(S|B), RS(B|S) with E = 1[y = c] as the embedding, at the deepest tap,
  with the 5-95 % band over the metrics' subsamples.

A class with fewer than :data:`MIN_IMAGES` images is marked "too few images" and gets no interval.
Rows come sorted by the KD effect; the summary names the classes KD helped (interval above zero)
and hurt (below). For the one-vs-rest RS, inner products with U(E_c) need no N x N matrix of the
indicator: U-centred matrices have zero row sums, so U(E_c)·B = −2 Σ_{i,j in c} B_ij, and U(E_c)·U(E_c)
has a closed form in n and n_c (tested against the plain U-centring).

``classes.csv``: ``class``, ``n``, ``accuracy_teacher``, ``accuracy_student``, ``accuracy_base``,
``kd_effect``, ``ci_low``, ``ci_high``, ``verdict``, ``agreement_student``, ``agreement_base``, then
``fss_student``, ``fss_base``, ``rs_student``, ``rs_base``, ``rs_student_given_base``,
``rs_base_given_student``, each with ``_p5`` and ``_p95``, and ``metrics_n`` (the class's images in
the metrics set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import Evidence
from engine.evidence.intervals import NOT_SUPPORTED, SUPPORTED, bootstrap_mean, verdict
from engine.evidence.registry import EvidenceKind, Option, Outcome, register_evidence, study_number
from engine.vocab import interval_text

__all__ = ["CLASSES", "MIN_IMAGES", "indicator_products", "one_vs_rest"]

MIN_IMAGES = 4  # R* and a bootstrap interval need four images of a class at least
TOO_FEW = "too few images"
BANDED = (
    "fss_student",
    "fss_base",
    "rs_student",
    "rs_base",
    "rs_student_given_base",
    "rs_base_given_student",
)
COLUMNS = (
    "class", "n", "accuracy_teacher", "accuracy_student", "accuracy_base", "kd_effect", "ci_low", "ci_high",
    "verdict", "agreement_student", "agreement_base",
    *(f"{name}{part}" for name in BANDED for part in ("", "_p5", "_p95")), "metrics_n",
)  # fmt: skip


def indicator_products(block_sum: float, n: int, n_c: int) -> tuple[float, float]:
    """(U(E_c)·B, U(E_c)·U(E_c)) as plain sums over i, j, for E_c = 1[y = c] over n images of which
    n_c are of class c, and B U-centred with ``block_sum`` = the sum of B over the class's pairs."""
    total = 2.0 * n_c * (n - n_c)
    across = 1.0 - n / (n - 2) + total / ((n - 1) * (n - 2))  # U(E_c) between the class and the rest
    return -2.0 * block_sum, total * across


def one_vs_rest(matrices, classes: np.ndarray) -> dict[int, dict[str, list[float]]]:
    """Class -> name -> values over the metrics' subsamples: RS(S), RS(B), RS(S|B), RS(B|S) with the
    class indicator, at each model's deepest tap (``matrices``: the metrics' MetricsMatrices)."""
    import torch

    from engine import stats

    labels = np.asarray(matrices.labels)
    out: dict[int, dict[str, list[float]]] = {int(c): {} for c in classes}
    for ix in matrices.draws:
        n = len(ix)
        u = {}
        for role in ("student", "base"):
            deepest = matrices.distances[role][list(matrices.taps[role])[-1]].values
            u[role] = stats.u_centered(deepest[ix][:, ix], check=False)
        ss, bb, sb = (
            float((u[a] * u[b]).sum()) for a, b in (("student",) * 2, ("base",) * 2, ("student", "base"))
        )
        drawn = labels[np.asarray(ix.cpu())]
        for c in classes:
            members = np.flatnonzero(drawn == c)
            if len(members) < 2 or len(members) > n - 2:
                continue
            at = torch.as_tensor(members, device=u["student"].device)
            s_e, ee = indicator_products(float(u["student"][at][:, at].sum()), n, len(members))
            b_e, _ = indicator_products(float(u["base"][at][:, at].sum()), n, len(members))
            values = out[int(c)]
            for name, (xe, xx) in {"rs_student": (s_e, ss), "rs_base": (b_e, bb)}.items():
                values.setdefault(name, []).append(_ratio(xe, xx, ee))
            for name, (xe, ye, xx, yy) in {
                "rs_student_given_base": (s_e, b_e, ss, bb),
                "rs_base_given_student": (b_e, s_e, bb, ss),
            }.items():  # R*(P_Y(X), E): X with Y's information removed (SPEC §2.5)
                beta = sb / yy if yy else 0.0
                projected = xx - 2 * beta * sb + beta**2 * yy
                values.setdefault(name, []).append(_ratio(xe - beta * ye, projected, ee))
    return out


def _ratio(ab: float, aa: float, bb: float) -> float:
    return ab / np.sqrt(aa * bb) if aa > 0 and bb > 0 else float("nan")


def class_fss(
    context, positions: np.ndarray, labels: np.ndarray, seed: int
) -> dict[int, dict[str, list[float]]]:
    """Class -> "fss_student" / "fss_base" -> R* with the teacher at the deepest tap, over
    subsamples of the class's own images (three quarters, at least four; 10 draws), forward passes
    in chunks of about 256 images so no class's features outlive their chunk."""
    import torch

    from engine import stats
    from engine.metrics import tap_features

    roles = [r for r in ("teacher", "student", "base") if r in context.models]
    taps = {r: _deepest_tap(context, r) for r in roles}
    out: dict[int, dict[str, list[float]]] = {}
    classes = [c for c in np.unique(labels) if np.count_nonzero(labels == c) >= MIN_IMAGES]
    for chunk in _chunks(classes, labels, 256):
        rows = np.concatenate([np.flatnonzero(labels == c) for c in chunk])
        images = context.prepare(context.data.images[positions[rows]])
        features = {
            r: torch.cat(tap_features(context.models[r], images, [taps[r]], stop=context.stop)[taps[r]])
            for r in roles
        }
        start = 0
        for c in chunk:
            count = int(np.count_nonzero(labels == c))
            mine = slice(start, start + count)
            start += count
            distances = {r: stats.pairwise_distances(features[r][mine].double()) for r in roles}
            rng = np.random.default_rng(seed + int(c))
            size = max(MIN_IMAGES, (3 * count) // 4)
            values = out.setdefault(int(c), {})
            for _ in range(10):
                pick = torch.as_tensor(
                    np.sort(rng.choice(count, size, replace=False)), device=distances["teacher"].device
                )
                u = {r: stats.u_centered(distances[r][pick][:, pick], check=False) for r in roles}
                for role in ("student", "base"):
                    if role in u:
                        values.setdefault(f"fss_{role}", []).append(
                            float(stats.u_correlation(u[role], u["teacher"]))
                        )
    return out


def _deepest_tap(context, role: str) -> str:
    if context.metrics is not None and role in context.metrics.taps:
        return list(context.metrics.taps[role])[-1]
    return context.specs[role].metric_taps[-1]


def _chunks(classes: list, labels: np.ndarray, size: int):
    """Classes grouped so each group holds about ``size`` images (one class at least)."""
    group, held = [], 0
    for c in classes:
        group.append(c)
        held += int(np.count_nonzero(labels == c))
        if held >= size:
            yield group
            group, held = [], 0
    if group:
        yield group


# ---- the evidence kind -------------------------------------------------------------------------


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    per_class = settings["per_class"]
    if per_class == 0 or not context.group.leader or "teacher" not in context.models:
        return None
    from engine.data.sampling import balanced_indices

    labels_all = context.labels.numpy()
    k = context.data.num_classes
    positions = balanced_indices(labels_all, min(per_class * k, len(labels_all)), context.seed + 15)
    labels = labels_all[positions]
    logits = context.logits(positions)
    right = {role: logits[role].argmax(1) == labels for role in logits}
    agree = {role: logits[role].argmax(1) == logits["teacher"].argmax(1) for role in logits}
    fss = class_fss(context, positions, labels, context.seed)
    present = np.unique(labels)
    metrics_n, rs = {}, {}
    if (
        context.metrics is not None
        and "student" in context.metrics.distances
        and "base" in context.metrics.distances
    ):
        rs = one_vs_rest(context.metrics, present)
        metrics_n = {int(c): int(np.count_nonzero(np.asarray(context.metrics.labels) == c)) for c in present}
    rows = [
        _row(context, int(c), labels == c, right, agree, {**fss.get(int(c), {}), **rs.get(int(c), {})},
             metrics_n.get(int(c), 0))
        for c in present
    ]  # fmt: skip
    rows.sort(key=lambda r: (r["kd_effect"] is None, -(r["kd_effect"] or 0.0), r["class"]))
    summary = {
        "effect": "accuracy(student) - accuracy(base) on the class's own held-out images",
        "minimum": MIN_IMAGES,
        "per_class": per_class,
        "helped": [r["class"] for r in rows if r["verdict"] == SUPPORTED],
        "hurt": [r["class"] for r in rows if r["verdict"] == NOT_SUPPORTED],
        "too_few": [r["class"] for r in rows if r["verdict"] == TOO_FEW],
    }
    return Outcome(summary, rows, images=positions.tolist())


def _row(context, c: int, mine: np.ndarray, right, agree, banded, metrics_n: int) -> dict[str, Any]:
    from engine.metric_kinds import summarize

    n = int(np.count_nonzero(mine))
    row: dict[str, Any] = {"class": context.data.class_names[c], "n": n}
    for role in ("teacher", "student", "base"):
        row[f"accuracy_{role}"] = _plain(right[role][mine].mean()) if role in right else None
    difference = right["student"][mine].astype(float) - right["base"][mine].astype(float)
    if n >= MIN_IMAGES:
        interval = bootstrap_mean(difference, seed=context.seed + c)
        row |= {
            "kd_effect": _plain(interval.mean),
            "ci_low": _plain(interval.low),
            "ci_high": _plain(interval.high),
        }
        row["verdict"] = verdict(interval)
    else:
        row |= {"kd_effect": _plain(difference.mean()), "ci_low": None, "ci_high": None, "verdict": TOO_FEW}
    for role in ("student", "base"):
        row[f"agreement_{role}"] = _plain(agree[role][mine].mean())
    for name in BANDED:
        mean, low, high = summarize(banded.get(name, []))
        row |= {name: _plain(mean), f"{name}_p5": _plain(low), f"{name}_p95": _plain(high)}
    row["metrics_n"] = metrics_n
    return row


def _plain(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    headers = ["class", "n", "acc T", "acc S", "acc B", "KD effect S - B [95 %]", "verdict", "agree S",
               "agree B", "FSS(S,T)", "FSS(B,T)", "RS(S) one-vs-rest", "RS(S|B)", "RS(B|S)"]  # fmt: skip
    rows = []
    for r in table.rows:
        band = {name: interval_text(r[name], r[f"{name}_p5"], r[f"{name}_p95"]) for name in BANDED}
        rows.append([
            r["class"], r["n"], r["accuracy_teacher"], r["accuracy_student"], r["accuracy_base"],
            interval_text(r["kd_effect"], r["ci_low"], r["ci_high"]), r["verdict"], r["agreement_student"],
            r["agreement_base"], band["fss_student"], band["fss_base"], band["rs_student"],
            band["rs_student_given_base"], band["rs_base_given_student"],
        ])  # fmt: skip
    return headers, rows


def headline(summary: Mapping[str, Any]) -> str:
    """The classes KD helped and hurt, in one line (the table's and the window's first line)."""

    def named(key: str) -> str:
        names = list(summary.get(key, []))
        return ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "") or "none"

    return (
        f"KD helped: {named('helped')}. KD hurt: {named('hurt')}. (95 % intervals over each class's images.)"
    )


CLASSES = register_evidence(
    EvidenceKind(
        name="classes",
        title="Per class",
        description=(
            "Each class on its own images: accuracy, agreement with the teacher and FSS, and one-vs-rest RS "
            "on the metrics set; sorted by the KD effect accuracy(student) - accuracy(base), with its 95 % "
            f"interval. Classes with fewer than {MIN_IMAGES} images are marked '{TOO_FEW}'."
        ),
        run=_run,
        columns=COLUMNS,
        table=_table,
        options=(Option("per_class", 16, "held-out images of each class", training=8),),
        study=lambda t: {
            f"class {r['class']} KD effect": (
                study_number(r["kd_effect"]),
                r["verdict"] != TOO_FEW,
            )
            for r in t.rows
        },
        uses_embeddings=False,
        place="metrics",
        headline=headline,
    )
)
