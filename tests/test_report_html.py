"""The report you can open anywhere (issue 12, item 5): the ``index.html`` that ``kdlens-cli
analyze`` writes is one self-contained, offline page (figures as data: URIs, no script, font, style
sheet or image fetched from anywhere) with the overlay grid, FSS/RS per layer with their bands and
the tables; ``kdlens-cli report`` writes one for a finished training run and renders a report's
again; a folder that is neither exits 2 with one plain line."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_fixtures import PageParts, analyze_args, card_checkpoints

from engine import cli
from engine.events import Evidence
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.reports.html import render_html
from engine.reports.tables import VERDICT_CLASS
from engine.vocab import MAP_TITLES

DATA_PNG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    out = root / "analysis"
    assert cli.main(analyze_args(card_checkpoints(root / "checkpoints"), out)) == 0
    return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real training run, finished: the quick demo with small metric sets and no evidence."""
    out = tmp_path_factory.mktemp("run") / "run"
    config = replace(
        demo_config("kd-gain", quick=True), threads=1, evidence=False, metrics_size=32, metrics_repeats=2
    )
    for _event in train_job(config, out):
        pass
    return out


def _figures(parts: PageParts) -> dict[str, Image.Image]:
    """Every <img> by its alt text, decoded from its data: URI."""
    figures = {}
    for attrs in parts.named("img"):
        assert attrs["src"].startswith(DATA_PNG), attrs["src"][:60]
        picture = Image.open(io.BytesIO(base64.b64decode(attrs["src"][len(DATA_PNG) :], validate=True)))
        picture.load()
        figures[attrs["alt"]] = picture
    return figures


def _assert_offline(folder: Path, page: str) -> PageParts:
    """Nothing on the page is fetched: no scripts, frames, style sheets, fonts or remote links;
    images are inline PNGs; links name files of the folder itself."""
    parts = PageParts(page)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may hold "//"
    assert not re.search(r"https?:|ftp:|//[a-z0-9]", text, flags=re.IGNORECASE)
    names = {name for name, _attrs in parts.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base", "frame", "video", "audio"}
    assert not any("url(" in style or "@import" in style or "@font-face" in style for style in parts.styles)
    for name, attrs in parts.tags:
        assert not any(key.startswith("on") for key in attrs), (name, attrs)  # no inline handlers
        if "src" in attrs:
            assert name == "img" and attrs["src"].startswith(DATA_PNG)
        if "href" in attrs:
            assert name == "a" and (folder / attrs["href"]).is_file(), attrs["href"]
    return parts


def _metrics_table(page: str) -> dict[tuple[str, str], tuple[float, ...] | None]:
    """(metric, layer) -> (mean, p5, p95) as the page's FSS/RS table shows them (None: n/a)."""
    table = re.search(r"<table><thead><tr><th>metric</th>(.*?)</table>", page).group(0)
    layers = re.findall(r"<th>([^<]*)</th>", table)[1:]
    cells = {}
    for row in re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", table):
        values = re.findall(r"<td[^>]*>([^<]*)</td>", row[1])
        for layer, text in zip(layers, values, strict=True):
            numbers = re.findall(r"[+-]\d+\.\d+", text)
            cells[(row[0], layer)] = None if text == "n/a" else tuple(float(x) for x in numbers)
    return cells


def _assert_same_metrics(page: str, report: Path) -> None:
    shown = _metrics_table(page)
    rows = json.loads((report / "metrics.json").read_text())["metrics"]
    assert len(shown) == len(rows)
    for row in rows:  # every value of metrics.json with its band, to the table's 3 decimals
        cell = shown[(row["metric"], row["layer"])]
        if row["mean"] is None:
            assert cell is None
        else:
            assert cell == pytest.approx((row["mean"], row["p5"], row["p95"]), abs=6e-4), row


def test_analyze_writes_a_self_contained_offline_page(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    parts = _assert_offline(report, page)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    figures = _figures(parts)
    assert set(figures) == {"overlay grid", "FSS and RS per layer", "evidence intervals"}
    assert {attrs["href"] for attrs in parts.named("a")} >= {"metrics.csv", "manifest.json", "sanity.csv"}


def test_the_page_holds_the_overlay_grid_of_every_probe_image(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((report / "manifest.json").read_text())
    grid = _figures(PageParts(page))["overlay grid"]
    # 8 rows (probe images) of 6 cells (the input and five maps): taller than wide, and drawn
    assert grid.height > grid.width > 600
    pixels = np.asarray(grid.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 2000  # photographs, not an empty canvas
    for key in ("gradcam_teacher", "gradcam_student", "gradcam_base", "distilled", "residual"):
        assert MAP_TITLES[key] in page  # the legend of the maps in the probe table and evidence
    for index in manifest["probe_indices"]:
        assert f"<td>#{index}</td>" in page
    assert "<th>teacher predicts</th>" in page and "<th>base predicts</th>" in page


def test_the_page_holds_fss_and_rs_per_layer_with_bands(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((report / "manifest.json").read_text())
    rows = json.loads((report / "metrics.json").read_text())["metrics"]
    assert "<h2>FSS and RS per layer</h2>" in page and "5-95 % band" in page
    for layer in manifest["layers"]["student"]:
        assert f"<th>{layer}</th>" in page
    _assert_same_metrics(page, report)
    assert {"FSS(S,T)", "FSS(S,B)", "RS(S|B)", "RS(B|S)"} <= {row["metric"] for row in rows}
    chart = _figures(PageParts(page))["FSS and RS per layer"]
    assert chart.width > 2 * chart.height  # three panels side by side


def test_the_page_holds_the_evidence_tables_and_claims(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "<h2>Claims and verdicts</h2>" in page and "<h3>Localisation</h3>" in page
    assert "<h3>Sanity check (cascading randomisation)</h3>" in page
    localisation = json.loads((report / "localisation.json").read_text())
    for name, difference in localisation["differences"].items():
        assert f"<td>localisation ({name})</td>" in page
        assert f'<span class="{VERDICT_CLASS[difference["verdict"]]}">{difference["verdict"]}</span>' in page
    with open(report / "sanity.csv") as handle:
        steps = {line.split(",")[1] for line in list(handle)[1:]}
    assert "none" in steps and all(f"<td>{step}</td>" in page for step in steps)
    assert "shapes" in page and "large_cnn" in page and "small_cnn" in page  # the key facts


def test_report_renders_an_analysis_page_again_from_its_files(report, capsys):
    first = (report / "index.html").read_text(encoding="utf-8")
    (report / "index.html").unlink()
    assert cli.main(["report", str(report)]) == 0
    assert f"report written to {report / 'index.html'}" in capsys.readouterr().out
    again = (report / "index.html").read_text(encoding="utf-8")
    _assert_offline(report, again)
    assert set(_figures(PageParts(again))) == set(_figures(PageParts(first)))
    _assert_same_metrics(again, report)


def test_report_writes_a_finished_runs_page(finished_run, capsys):
    assert cli.main(["report", str(finished_run)]) == 0
    assert "report written to" in capsys.readouterr().out
    page = (finished_run / "index.html").read_text(encoding="utf-8")
    parts = _assert_offline(finished_run, page)
    figures = _figures(parts)
    # the last epoch's maps, FSS/RS per layer at that epoch and over both epochs
    assert {"overlay grid", "FSS and RS per layer", "FSS and RS over epochs"} <= set(figures)
    assert "<h2>FSS and RS per layer at epoch 2</h2>" in page and "The probe images at epoch 2" in page
    for text in ("<td>KD loss</td>", "<td>finished</td>", "<td>student held-out accuracy</td>"):
        assert text in page
    assert "No claims were tested" in page  # this run computed no evidence, and says so


@pytest.mark.parametrize("folder", ["empty", "missing", "damaged-report"])
def test_report_on_a_bad_folder_exits_2_with_one_plain_line(tmp_path, capsys, folder):
    path = tmp_path / folder
    if folder != "missing":
        path.mkdir()
    if folder == "damaged-report":  # a manifest and an empty maps folder: an analysis cut short
        (path / "maps").mkdir()
        (path / "manifest.json").write_text(json.dumps({"checkpoints": {}}))
    assert cli.main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and str(path) in err[0]
    expected = "holds no probe_NNN.npz maps" if folder == "damaged-report" else "neither a KD Lens run folder"
    assert expected in err[0]
    assert not (path / "index.html").exists()


def test_every_text_is_escaped_and_claims_show_their_verdicts():
    claim = {
        "difference": "ROAD(student, distilled) - ROAD(base, distilled)",
        "mean": 0.12,
        "ci_low": 0.05,
        "ci_high": 0.2,
        "verdict": "supported",
        "meaning_if_positive": "<b>removing</b> the distilled regions hurts the student more",
    }
    rows = tuple(
        {"map": "distilled", "model": model, "score": score, "ci_low": score - 0.01, "ci_high": score + 0.01}
        | {"n": 8}
        for model, score in (("teacher", 0.01), ("student", 0.2), ("base", 0.08))
    )
    road = Evidence(0, "faithfulness", {"score": "ROAD score", "claims": {"distilled": claim}}, rows)
    title, facts = "<script>alert(1)</script>", [("teacher", "a & b <i>")]
    page = render_html(title=title, facts=facts, frame=None, rows=[], evidence=[road])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b &lt;i&gt;" in page and "&lt;b&gt;removing&lt;/b&gt;" in page
    assert '<span class="supported">supported</span>' in page
    assert "+0.120 [+0.050, +0.200]" in page and "+0.200 [+0.190, +0.210]" in page
    assert "Heatmaps" not in page  # no frame, no grid
    assert set(_figures(PageParts(page))) == {"evidence intervals"}
