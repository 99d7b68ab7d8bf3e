"""Synthetic evidence tables of registered kinds with each kind of plot (localisation,
faithfulness, sanity, the layer map), in the shape their registry records read, for the window's
figure and layout tests; and the comparison of a rasterised SVG or PDF with the PNG of the same
figure."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from engine.events import Evidence

MAPS = ("gradcam_teacher", "gradcam_student", "gradcam_base", "distilled", "residual")


def _claim(mean: float, verdict: str) -> dict:
    return {"mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n": 32, "verdict": verdict}


def evidence_tables(epoch: int) -> list[Evidence]:
    """One table of each kind at ``epoch``, every claim with a verdict."""
    shares = [(key, 0.3 + 0.05 * i) for i, key in enumerate(MAPS)]
    localisation = Evidence(
        epoch,
        "localisation",
        {
            "chance": 0.2,
            "differences": {
                "distilled - residual": _claim(-0.05, "inconclusive") | {"claim": "on the object"}
            },
        },
        tuple(
            {"map": key, "mean": m, "ci_low": m - 0.04, "ci_high": m + 0.04, "n": 32, "chance": 0.2}
            for key, m in shares
        )
        + ({"map": "distilled - residual", "mean": -0.05, "ci_low": -0.1, "ci_high": 0.0, "n": 32},),
    )
    road = {"difference": "ROAD(student, distilled) - ROAD(base, distilled)", "meaning_if_positive": "hurts"}
    faithfulness = Evidence(
        epoch,
        "faithfulness",
        {"claims": {"distilled": road | _claim(0.12, "supported")}},
        tuple(
            {"map": key, "model": model, "score": s, "ci_low": s - 0.01, "ci_high": s + 0.01, "n": 16}
            for key in (*MAPS, "random")
            for model, s in (("teacher", 0.01), ("student", 0.02), ("base", -0.01))
        ),
    )
    sanity = Evidence(
        epoch,
        "sanity",
        {},
        tuple(
            {"map": key, "step": step, "randomised": f"stage{step}", "spearman": 1 - 0.2 * step}
            | {"ci_low": 0.9 - 0.2 * step, "ci_high": 1.0 - 0.15 * step, "n": 8}
            for key in ("distilled", "gradcam_student")
            for step in range(5)
        ),
    )
    layers = Evidence(
        epoch,
        "layers",
        {},
        tuple(
            {"pair": pair, "row": f"t{i}", "column": f"s{j}", "measure": "R*", "mean": 0.2 * (i + j) / 3}
            | {"p5": 0.1, "p95": 0.9, "n": 10}
            for pair in ("T x S", "T x B")
            for i in range(3)
            for j in range(3)
        ),
    )
    return [localisation, faithfulness, sanity, layers]


def on_white(image: Image.Image) -> np.ndarray:
    """(H, W, 3) int RGB of ``image`` laid on white (SVG renderers leave the page transparent)."""
    rgba = image.convert("RGBA")
    page = Image.new("RGBA", rgba.size, "white")
    page.alpha_composite(rgba)
    return np.asarray(page.convert("RGB"), dtype=np.int64)


def likeness(png: bytes, other: Image.Image) -> tuple[float, float]:
    """How alike a rasterised SVG/PDF is to the PNG: (mean absolute difference of the grey images
    at a quarter of the PNG's size, 0-255; how far its coloured pixels, the data's lines and
    markers, are from the PNG's, signed, as a share of them, one in a thousand of the picture
    allowed). Engines' text and edges differ by about 2-4 and +-0.3; a filled blob or lost curves
    are far off."""
    reference = Image.open(io.BytesIO(png))
    size = (reference.width // 4, reference.height // 4)
    first, second = on_white(reference), on_white(other.resize(reference.size))
    grey = [np.asarray(Image.fromarray(a.astype(np.uint8)).convert("L").resize(size, Image.BOX), float)
            for a in (first, second)]  # fmt: skip
    coloured = [((a.max(axis=2) - a.min(axis=2)) > 60).mean() for a in (first, second)]
    return float(np.abs(grey[0] - grey[1]).mean()), (coloured[1] - coloured[0]) / (coloured[0] + 1e-3)
