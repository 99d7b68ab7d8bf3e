"""The names KD Lens uses everywhere, defined once (STYLE.md "One vocabulary"): roles, map keys,
metric names and probe-frame flags. Plain Python with no torch, so the window imports it too.
"""

from __future__ import annotations

import math

__all__ = [
    "ANALYZED_ROLES",
    "DEMO_PRESETS",
    "FALLBACK_COLOURS",
    "IMAGE_SIZES",
    "METRIC_COLOURS",
    "METRIC_PLOTS",
    "ROLE_COLOURS",
    "VERDICT_COLOURS",
    "DISTILLED",
    "KD_ROLES",
    "MAP_KEYS",
    "MAP_TITLES",
    "NO_UNIQUE_FEATURES",
    "OPTIONAL_MAP_KEYS",
    "RESIDUAL",
    "ROLES",
    "ROLE_LETTERS",
    "TEACHER_PAIRS",
    "TEACHER_PHASE_EPOCH",
    "given_key",
    "gradcam_key",
    "interval_text",
    "map_short",
    "map_title",
    "metric_label",
    "metric_name",
    "metric_plot",
    "no_unique_flag",
    "rgb",
]

#: Every role, in training order (teacher first, then the optional assistant, base, student).
ROLES = ("teacher", "assistant", "base", "student")
#: The three checkpoints an analysis reads.
ANALYZED_ROLES = ("teacher", "student", "base")
#: Trained in lockstep from the same start; only the student's loss has the KD term.
KD_ROLES = ("base", "student")
#: Letters in metric names, in the order metrics are reported (teacher, assistant, student, base).
ROLE_LETTERS = {"teacher": "T", "assistant": "A", "student": "S", "base": "B"}

DISTILLED = "distilled"  # UniCAM(X = student, Y = base): what the student has that the base lacks
RESIDUAL = "residual"  # UniCAM(X = base, Y = student): what the base has that the student dropped


def gradcam_key(role: str) -> str:
    """The map key of a role's Grad-CAM, e.g. ``gradcam_teacher``."""
    return f"gradcam_{role}"


def given_key(x_role: str, y_role: str) -> str:
    """The map key of UniCAM(X | Y) for a pair other than distilled/residual, e.g.
    ``teacher_given_student`` (what the teacher holds that the student did not take)."""
    return f"{x_role}_given_{y_role}"


#: UniCAM pairs offered beside distilled and residual (SPEC §1): teacher given student (what was
#: not transferred) and student given teacher.
TEACHER_PAIRS = (("teacher", "student"), ("student", "teacher"))

#: Map keys of a probe frame in display order; the optional ones appear only when present.
MAP_KEYS = (gradcam_key("teacher"), gradcam_key("student"), gradcam_key("base"), DISTILLED, RESIDUAL)
OPTIONAL_MAP_KEYS = (gradcam_key("assistant"), *(given_key(x, y) for x, y in TEACHER_PAIRS))
MAP_TITLES = {
    gradcam_key("teacher"): "Grad-CAM teacher",
    gradcam_key("student"): "Grad-CAM student",
    gradcam_key("base"): "Grad-CAM base",
    gradcam_key("assistant"): "Grad-CAM assistant",
    DISTILLED: "Distilled (S given B)",
    RESIDUAL: "Residual (B given S)",
    given_key("teacher", "student"): "Not transferred (T given S)",
    given_key("student", "teacher"): "Student given teacher (S given T)",
}

MAP_SHORT_TITLES = {
    gradcam_key("teacher"): "Grad-CAM T",
    gradcam_key("student"): "Grad-CAM S",
    gradcam_key("base"): "Grad-CAM B",
    gradcam_key("assistant"): "Grad-CAM A",
    DISTILLED: "Distilled",
    RESIDUAL: "Residual",
    given_key("teacher", "student"): "Not transferred",
    given_key("student", "teacher"): "S given T",
}


def map_title(key: str) -> str:
    """A map's title (``Distilled (S given B)``); other keys (``random``, ``a - b``) as they are."""
    return MAP_TITLES.get(key, key)


def map_short(key: str) -> str:
    """A map's title where space is short (a plot's ticks): neighbours never overlap."""
    return MAP_SHORT_TITLES.get(key, key.split(" (")[0].replace("_", " "))


#: Probe-frame flag: one of the UniCAM maps found nothing unique (its maps are all zero).
NO_UNIQUE_FEATURES = "no_unique_features"


def no_unique_flag(map_key: str) -> str:
    """The flag saying that the UniCAM map ``map_key`` found no unique features."""
    return f"{NO_UNIQUE_FEATURES}_{map_key}"


def metric_name(kind: str, first: str, second: str | None = None, sep: str = ",") -> str:
    """'FSS(S,T)', 'RS(S)', 'RS(S|B)' from role names."""
    inner = ROLE_LETTERS[first] if second is None else f"{ROLE_LETTERS[first]}{sep}{ROLE_LETTERS[second]}"
    return f"{kind}({inner})"


def interval_text(mean: float | None, low: float | None, high: float | None) -> str:
    """``+0.123 [+0.010, +0.200]``; ``(no interval)`` when the bounds are missing; ``n/a`` without a
    mean. Three decimals, more when every value is below 0.01 (a KL of 0.0002 never reads +0.000)."""
    if mean is None:
        return "n/a"
    shown = [abs(v) for v in (mean, low, high) if v is not None and math.isfinite(v) and v != 0]
    digits = max(3, 2 - math.floor(math.log10(max(shown)))) if shown else 3
    if low is None or high is None:
        return f"{mean:+.{digits}f} (no interval)"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


# ---- how the window and the report draw them (one palette, one grouping) ------------------------

#: The colour of each verdict (SPEC §10), in the window and the report.
VERDICT_COLOURS = {"supported": "#1a7f37", "not supported": "#b42318", "inconclusive": "#6b6b6b"}
#: One colour per role, in every plot of the window and the report.
ROLE_COLOURS = {"teacher": "#1f77b4", "assistant": "#9467bd", "base": "#7f7f7f", "student": "#d62728"}
#: One colour per metric: the role it describes (pairs: the student's pair in red).
METRIC_COLOURS = {
    "FSS(S,T)": "#d62728",
    "FSS(B,T)": "#7f7f7f",
    "FSS(S,B)": "#9467bd",
    "FSS(A,T)": "#1f77b4",
    "FSS(S,A)": "#ff7f0e",
    "RS(T)": "#1f77b4",
    "RS(S)": "#d62728",
    "RS(B)": "#7f7f7f",
    "RS(A)": "#9467bd",
    "RS(S|B)": "#d62728",
    "RS(B|S)": "#7f7f7f",
    "RS(S|T)": "#ff7f0e",
    "RS(T|S)": "#1f77b4",
    "LP(T)": "#17becf",
    "LP(S)": "#ff9896",
    "LP(B)": "#bcbd22",
    "LP(A)": "#c5b0d5",
}
FALLBACK_COLOURS = ("#2ca02c", "#17becf", "#bcbd22", "#8c564b")
#: The metric plots, in order: (key, title, what appears there).
METRIC_PLOTS = (
    (
        "fss",
        "Feature similarity FSS, LP",
        "How alike two models' features are (FSS), and each layer to its model's last (LP), appears here.",
    ),
    (
        "rs",
        "Relevance to the classes RS",
        "How much each model's features follow the classes (RS) appears here.",
    ),
    (
        "conditional",
        "Distilled vs residual RS",
        "What the student has beyond the base, and the reverse, appears here.",
    ),
)
_METRIC_LABELS = {"RS(S|B)": "RS(S|B) distilled", "RS(B|S)": "RS(B|S) residual"}


def metric_plot(metric: str) -> str:
    """Which metric plot a metric is drawn in: FSS, FSSv and LP compare feature sets; RS(M)
    relates a model to the classes; RS(M1|M2) is conditional."""
    if metric.startswith(("FSS", "LP")):
        return "fss"
    return "conditional" if "|" in metric else "rs"


def metric_label(metric: str) -> str:
    """A metric's legend label (the conditional RS say which is distilled and which residual)."""
    return _METRIC_LABELS.get(metric, metric)


def rgb(colour: str) -> tuple[int, int, int]:
    """``"#d62728"`` -> (214, 39, 40)."""
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


#: The image sides (pixels) KD Lens reads at: below, no CAM layer keeps a map; above, memory runs out.
IMAGE_SIZES = (8, 1024)

#: The epoch of the teacher's live frames: its Grad-CAM while it trains, before the first KD epoch.
TEACHER_PHASE_EPOCH = 0

#: The built-in demo's presets (engine.jobs.demo builds each one's configuration).
DEMO_PRESETS = ("kd-gain", "cue-failure")
