"""The evidence registry (SPEC §10), as the KD-loss registry is for losses: one record per kind of
evidence, registered where the kind is defined (``engine/evidence/<kind>.py``).

A record owns everything about its kind: its options (image counts, ...) with their defaults and
checks, how it runs on held-out images, its claims with verdicts, its table and its plot. What
is derived from the registry, never restated: the training configuration's fields, the
analysis's settings and command-line flags, the report's files and sections, a study's claims
and the window's Evidence tab. Every kind's result travels as the generic
:class:`engine.events.Evidence` event (summary + rows), which run folders and reports store.

This module and the kinds' presentation import no torch (the window reads them); a kind's
``run`` imports what it computes with when it runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import KDLensError
from engine.events import Evidence
from engine.vocab import ROLE_COLOURS, interval_text

__all__ = [
    "EVIDENCE_KINDS",
    "Claim",
    "EvidenceInputError",
    "EvidenceKind",
    "IntervalPlot",
    "LinePlot",
    "MatrixPlot",
    "Option",
    "Outcome",
    "analysis_key",
    "claim_from",
    "claims_of",
    "evidence_kinds",
    "flag",
    "flat_settings",
    "get_kind",
    "option_defaults",
    "register_evidence",
    "resolve_settings",
    "training_key",
]


class EvidenceInputError(KDLensError, ValueError):
    """An evidence option out of range, or an evidence set too small for the data's classes."""


@dataclass(frozen=True)
class Option:
    """One setting of a kind: a whole number (``many``: a list of them), its default in an
    analysis and, when it differs, in training (where evidence runs every few epochs and must stay
    quick), and its valid range. ``train_key`` names a field kept from older run folders;
    ``earlier``: the training field whose value the option took before it had a field of its own
    (read from older run folders that lack it)."""

    name: str
    default: int | tuple[int, ...]
    help: str
    training: int | tuple[int, ...] | None = None
    low: int = 0
    high: int | None = None
    many: bool = False
    train_key: str | None = None
    earlier: str | None = None

    def describe_range(self) -> str:
        return f"from {self.low} to {self.high}" if self.high is not None else f"at least {self.low}"

    def check(self, value: Any, where: str) -> int | tuple[int, ...]:
        """``value`` as this option holds it, or :class:`EvidenceInputError` naming ``where``."""
        values = list(value) if self.many and isinstance(value, (list, tuple)) else [value]
        fine = bool(values) and all(
            not isinstance(v, bool)
            and isinstance(v, int)
            and v >= self.low
            and (self.high is None or v <= self.high)
            for v in values
        )
        if not fine:
            what = "whole numbers" if self.many else "a whole number"
            raise EvidenceInputError(f"{where} must be {what} {self.describe_range()}, got {value!r}")
        return tuple(values) if self.many else values[0]


@dataclass(frozen=True)
class Claim:
    """A claim a kind tests: the paired difference, its 95 % interval and the verdict (SPEC §10)."""

    kind: str
    name: str
    difference: str
    mean: float | None
    low: float | None
    high: float | None
    n: int
    verdict: str
    meaning: str

    def interval_text(self) -> str:
        return interval_text(self.mean, self.low, self.high)

    def line(self) -> str:
        """``supported (+0.123 [+0.010, +0.200])``: for logs."""
        return f"{self.verdict} ({self.interval_text()})"


def claim_from(kind: str, name: str, difference: str, values: Mapping[str, Any], meaning: str) -> Claim:
    """A :class:`Claim` from a stored interval (``mean``, ``ci_low``, ``ci_high``, ``n``, ``verdict``)."""
    return Claim(
        kind,
        name,
        difference,
        values.get("mean"),
        values.get("ci_low"),
        values.get("ci_high"),
        int(values.get("n") or 0),
        str(values.get("verdict", "inconclusive")),
        meaning,
    )


def summary_claims(kind: str, summary: Mapping[str, Any]) -> list[Claim]:
    """The claims a kind stored in its summary under ``"claims"``: name -> its interval, with its
    ``difference`` and ``meaning_if_positive``."""
    return [
        claim_from(kind, name, c.get("difference", ""), c, c.get("meaning_if_positive", ""))
        for name, c in summary.get("claims", {}).items()
    ]


def study_number(value: Any) -> float:
    """A table's figure as a study value: NaN where the table has none."""
    return float("nan") if value is None else float(value)


def claim_study_values(kind: str, claims: Sequence[Claim]) -> dict[str, tuple[float, bool]]:
    """Each claim's mean as a study value, marked as a claim (a paired difference)."""
    return {f"{kind} claim {c.name}: {c.difference}": (study_number(c.mean), True) for c in claims}


@dataclass(frozen=True)
class IntervalPlot:
    """Means with 95 % intervals at named categories, one series per model or quantity, and a
    dashed reference line (chance, zero). ``series``: name -> [(mean, low, high) per category]."""

    title: str
    categories: tuple[str, ...]
    series: Mapping[str, Sequence[tuple[Any, Any, Any]]]
    y_label: str
    reference: float = 0.0
    reference_label: str = ""
    y_range: tuple[float, float] | None = None
    short: tuple[str, ...] | None = None  # category labels where space is short (the window's ticks)
    colours: Mapping[str, str] = field(default_factory=dict)  # series -> "#rrggbb" (see series_colour)


@dataclass(frozen=True)
class LinePlot:
    """Curves with 95 % bands over a numeric x. ``series``: name -> (x, mean, low, high)."""

    title: str
    series: Mapping[str, tuple[Sequence[float], Sequence[Any], Sequence[Any], Sequence[Any]]]
    x_label: str
    y_label: str
    colours: Mapping[str, str] = field(default_factory=dict)


def series_colour(plot: IntervalPlot | LinePlot, name: str) -> str | None:
    """A series' colour: the plot's own for it, else its role's when it is named after a role (a
    model's series), else None (the drawing picks a spare colour)."""
    return plot.colours.get(name) or ROLE_COLOURS.get(name)


@dataclass(frozen=True)
class MatrixPlot:
    """Heatmaps side by side on one shared colour scale (e.g. the teacher's layers against the
    student's and against the base's). ``panels``: name -> (row labels, column labels, values as
    rows x columns, None where undefined); ``scale``: (low, high), None: the values' range."""

    title: str
    panels: Mapping[str, tuple[Sequence[str], Sequence[str], Sequence[Sequence[Any]]]]
    value_label: str
    scale: tuple[float, float] | None = None


Plot = IntervalPlot | LinePlot | MatrixPlot


@dataclass(frozen=True)
class Outcome:
    """What a kind's ``run`` gives back: its summary and rows, or a ``note`` saying why it could not
    run on these data (e.g. no object masks); ``images``: the held-out positions it scored."""

    summary: Mapping[str, Any] = field(default_factory=dict)
    rows: Sequence[Mapping[str, Any]] = ()
    note: str | None = None
    images: Sequence[int] = ()

    def event(self, kind: str, epoch: int) -> Evidence:
        if self.note is not None:
            return Evidence(epoch, kind, {"note": self.note}, ())
        return Evidence(epoch, kind, dict(self.summary), tuple(dict(r) for r in self.rows))


def _no_claims(_summary: Mapping[str, Any]) -> list[Claim]:
    return []


def _no_plot(_table: Evidence) -> Plot | None:
    return None


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of evidence and everything about it.

    ``run(context, settings)``: computes it on held-out images
    (:class:`engine.evidence.context.EvidenceContext`; every
    rank of a distributed run calls it, only rank 0's outcome is kept) and returns an
    :class:`Outcome`, or None to leave it out. ``columns``: its CSV file's header (the report
    writes ``<name>.csv`` and, with ``summary_file``, ``<name>.json``). ``claims(summary)``: its
    claims with verdicts. ``table(event)``: (headers, rows) as shown in the report and the window.
    ``plot(event)``: its figure, or None. ``study(event)``: quantity -> (value, makes a claim), for
    a study over seeds (default: its claims' differences). A kind with an ``n`` option scores a
    seeded, class-balanced held-out set of that size (seed + ``seed_offset``); ``needs_masks``: only
    on data with object masks; ``uses_embeddings``: it scores its images with the class embeddings
    (UniCAM), so teacher prototypes are never made from them. ``place``: the window's tab that
    shows it ("evidence", or "metrics" for what reads like the metrics: the layer map, the classes).
    ``headline(summary)``: what to read first, one line above its table (e.g. the classes KD
    helped and hurt)."""

    name: str
    title: str
    description: str
    run: Callable[[Any, Mapping[str, Any]], Outcome | None]  # (EvidenceContext, its options)
    columns: tuple[str, ...]
    table: Callable[[Evidence], tuple[list[str], list[list[Any]]]]
    options: tuple[Option, ...] = ()
    claims: Callable[[Mapping[str, Any]], list[Claim]] = _no_claims
    plot: Callable[[Evidence], Plot | None] = _no_plot
    study: Callable[[Evidence], dict[str, tuple[float, bool]]] | None = None
    summary_file: bool = True
    default_summary: Mapping[str, Any] = field(default_factory=dict)
    seed_offset: int = 0
    needs_masks: bool = False
    uses_embeddings: bool = True
    place: str = "evidence"
    headline: Callable[[Mapping[str, Any]], str] | None = None  # one line above its table

    def study_values(self, table: Evidence) -> dict[str, tuple[float, bool]]:
        if self.study is not None:
            return self.study(table)
        return {
            f"{self.name} claim {c.name}: {c.difference}": (math.nan if c.mean is None else c.mean, True)
            for c in self.claims(table.summary)
        }


#: Every kind, in the order it runs and is shown.
EVIDENCE_KINDS: dict[str, EvidenceKind] = {}


def register_evidence(kind: EvidenceKind) -> EvidenceKind:
    """Add ``kind`` to :data:`EVIDENCE_KINDS` (its name and its options' keys must be new)."""
    if kind.name in EVIDENCE_KINDS:
        raise ValueError(f"an evidence kind named {kind.name!r} is registered already")
    taken = {analysis_key(k, o) for k in EVIDENCE_KINDS.values() for o in k.options}
    clash = [analysis_key(kind, o) for o in kind.options if analysis_key(kind, o) in taken]
    if clash:
        raise ValueError(f"evidence option(s) {', '.join(clash)} are registered already")
    EVIDENCE_KINDS[kind.name] = kind
    return kind


def evidence_kinds() -> list[EvidenceKind]:
    return list(EVIDENCE_KINDS.values())


def get_kind(name: str) -> EvidenceKind | None:
    """The registered kind of that name, or None (a table of a kind this build does not know)."""
    return EVIDENCE_KINDS.get(name)


def claims_of(tables: Mapping[str, Evidence] | Sequence[Evidence]) -> list[Claim]:
    """Every claim of ``tables`` (kind -> table, or a sequence), in registry order."""
    chosen = tables if isinstance(tables, Mapping) else {t.kind: t for t in tables}
    out: list[Claim] = []
    for kind in evidence_kinds():
        table = chosen.get(kind.name)
        if table is not None and "note" not in table.summary:
            out += kind.claims(table.summary)
    return out


def analysis_key(kind: EvidenceKind, option: Option) -> str:
    """The option's setting in an analysis and its flag's name: ``faithfulness_n``."""
    return f"{kind.name}_{option.name}"


def flag(kind: EvidenceKind, option: Option) -> str:
    """The command-line flag: ``--faithfulness-n``."""
    return "--" + analysis_key(kind, option).replace("_", "-")


def training_key(kind: EvidenceKind, option: Option) -> str:
    """The option's field in a training configuration: ``evidence_faithfulness`` (the image count
    of a kind), ``evidence_<kind>_<option>`` otherwise, or the field older run folders used."""
    if option.train_key:
        return option.train_key
    return f"evidence_{kind.name}" if option.name == "n" else f"evidence_{kind.name}_{option.name}"


def option_defaults(*, training: bool) -> dict[str, Any]:
    """Every option's default by its key (:func:`training_key` or :func:`analysis_key`)."""
    key_of = training_key if training else analysis_key
    return {
        key_of(kind, option): option.training if training and option.training is not None else option.default
        for kind in evidence_kinds()
        for option in kind.options
    }


def flat_settings(settings: Mapping[str, Mapping[str, Any]], *, training: bool) -> dict[str, Any]:
    """Resolved settings (kind -> option -> value) as plain JSON values by each option's key: how
    a training configuration and an analysis manifest store them."""
    key_of = training_key if training else analysis_key
    return {
        key_of(kind, option): list(value) if isinstance(value, tuple) else value
        for kind in evidence_kinds()
        for option in kind.options
        if (value := settings[kind.name][option.name]) is not None
    }


def resolve_settings(values: Mapping[str, Any], *, training: bool) -> dict[str, dict[str, Any]]:
    """kind -> option -> value: ``values`` (keyed by :func:`training_key` in training, else by
    :func:`analysis_key`) over the defaults, each checked. An unknown key is refused."""
    key_of = training_key if training else analysis_key
    known = {key_of(k, o): (k, o) for k in evidence_kinds() for o in k.options}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise EvidenceInputError(
            f"unknown evidence option(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
        )
    settings: dict[str, dict[str, Any]] = {k.name: {} for k in evidence_kinds()}
    for key, (kind, option) in known.items():
        default = option.training if training and option.training is not None else option.default
        where = key if training else f"{key} ({flag(kind, option)})"
        settings[kind.name][option.name] = option.check(values.get(key, default), where)
    return settings
