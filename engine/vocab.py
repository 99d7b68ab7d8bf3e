"""The names KD Lens uses everywhere, defined once (STYLE.md "One vocabulary"): roles, map keys,
metric names and probe-frame flags. Plain Python with no torch, so the window imports it too.
"""

from __future__ import annotations

__all__ = [
    "DEMO_PRESETS",
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
    "metric_name",
    "no_unique_flag",
]

#: Every role, in training order (teacher first, then the optional assistant, base, student).
ROLES = ("teacher", "assistant", "base", "student")
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

#: Probe-frame flag: one of the UniCAM maps found nothing unique (its maps are all zero).
NO_UNIQUE_FEATURES = "no_unique_features"


def no_unique_flag(map_key: str) -> str:
    """The flag saying that the UniCAM map ``map_key`` found no unique features."""
    return f"{NO_UNIQUE_FEATURES}_{map_key}"


def metric_name(kind: str, first: str, second: str | None = None, sep: str = ",") -> str:
    """'FSS(S,T)', 'RS(S)', 'RS(S|B)' from role names."""
    inner = ROLE_LETTERS[first] if second is None else f"{ROLE_LETTERS[first]}{sep}{ROLE_LETTERS[second]}"
    return f"{kind}({inner})"


#: The epoch of the teacher's live frames: its Grad-CAM while it trains, before the first KD epoch.
TEACHER_PHASE_EPOCH = 0

#: The built-in demo's presets (engine.jobs.demo builds each one's configuration).
DEMO_PRESETS = ("kd-gain", "cue-failure")
