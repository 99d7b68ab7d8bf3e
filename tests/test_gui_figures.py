"""One figure, two media (issue 21 item 1): every plot the window shows is also exported as a
file figure drawn by the report's matplotlib code, at a fixed paper size whatever the window's
size, with numbered axes, and its SVG and PDF rasterise to nearly the same image as its PNG."""

from __future__ import annotations

import io
import shutil
import subprocess

import gui_fixtures as fx
import pytest
from figure_fixtures import evidence_tables, likeness
from gui_fixtures import write_run_dir
from PIL import Image

from engine.evidence.registry import MatrixPlot
from engine.reports.figure_style import COLUMN, TWO_COLUMN
from engine.reports.plot_figures import plot_figure

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window

DPI = 100
PLOTS = {
    "training_cross_entropy",
    "training_kd_loss",
    "training_accuracy",
    "metrics_fss_stage4",
    "metrics_rs_stage4",
    "metrics_distilled_residual_stage4",
    "evidence_localisation",
    "evidence_faithfulness",
    "evidence_sanity",
    "metrics_layers",  # the layer map, in the Metrics tab
}


def _open_with_evidence(window, qtbot, tmp_path) -> None:
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.open_run(write_run_dir(tmp_path / "run", epochs=3, n=6))
    for table in evidence_tables(3):
        window.model.apply(table)
    qtbot.wait(300)  # the plots refresh on a short timer


def _pngs(written) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in written if p.suffix == ".png"}


def test_every_plot_is_a_paper_figure_of_one_size_whatever_the_window(window, qtbot, tmp_path):
    _open_with_evidence(window, qtbot, tmp_path)
    exports = []
    for n, (width, height) in enumerate([(1500, 950), (1280, 720)]):
        window.resize(width, height)
        qtbot.wait(100)
        exports.append(window.export_to(tmp_path / f"export{n}", dpi=DPI))
    first, second = (_pngs(written) for written in exports)
    assert set(first) == PLOTS | {"heatmaps_epoch_0003"}
    assert first == second  # the same bytes at either window size
    for stem in first:
        assert {f"{stem}.{fmt}" for fmt in ("png", "svg", "pdf")} <= {p.name for p in exports[0]}
    for stem in PLOTS:
        assert Image.open(io.BytesIO(first[stem])).size == (COLUMN.width * DPI, COLUMN.height * DPI)
    heatmaps = Image.open(io.BytesIO(first["heatmaps_epoch_0003"]))
    assert heatmaps.width == TWO_COLUMN.width * DPI and heatmaps.info["dpi"][0] == pytest.approx(
        DPI, abs=0.01
    )


def test_every_exported_plot_has_numbers_on_both_axes_and_a_legend_outside(window, qtbot, tmp_path):
    _open_with_evidence(window, qtbot, tmp_path)
    plots = window.panels.export_plots()
    assert set(plots) == PLOTS
    for stem, spec in plots.items():
        figure = plot_figure(spec)
        figure.draw_without_rendering()
        ax = figure.axes[0]
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            assert [t.get_text() for t in ticks if t.get_text()], f"{stem}: an axis without numbers"
        assert ax.get_title(), stem
        if isinstance(spec, MatrixPlot):  # its values are read off its colour bar
            (bar,) = [other for other in figure.axes[1:] if other.get_ylabel() == spec.value_label]
            assert [t.get_text() for t in bar.get_yticklabels() if t.get_text()], stem
            continue
        assert ax.get_ylabel(), stem
        (legend,) = figure.legends  # the figure's, below the axes: never over the data
        assert legend.get_window_extent().y1 <= ax.get_window_extent().y0, stem


def _rasterised(svg_path, pdf_path, size: tuple[int, int]) -> dict[str, Image.Image]:
    """The SVG by cairosvg (and ImageMagick's convert where installed), the PDF by poppler."""
    import cairosvg

    width, height = size
    shots = {"cairosvg": Image.open(io.BytesIO(cairosvg.svg2png(url=str(svg_path), output_width=width)))}
    if shutil.which("pdftoppm"):
        done = subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-singlefile",
                "-scale-to-x",
                str(width),
                "-scale-to-y",
                str(height),
                pdf_path,
            ],
            capture_output=True,
            check=True,
        )
        shots["pdftoppm"] = Image.open(io.BytesIO(done.stdout))
    if shutil.which("convert") and "<image" not in svg_path.read_text():  # its SVG reader shows no images
        density = str(round(width / COLUMN.width * 96 / 72))  # it counts an SVG's points at 96 per inch
        done = subprocess.run(["convert", "-density", density, str(svg_path), "png:-"], capture_output=True)
        if done.returncode == 0:
            shots["imagemagick"] = Image.open(io.BytesIO(done.stdout))
    return shots


def test_svg_and_pdf_rasterise_to_nearly_the_png(window, qtbot, tmp_path):
    try:
        import cairosvg  # noqa: F401 (the dev extra; it loads the cairo library when imported)
    except (ImportError, OSError) as exc:
        pytest.skip(f"no SVG rasteriser: cairosvg (make installs it) or libcairo2 is missing ({exc})")
    _open_with_evidence(window, qtbot, tmp_path)
    folder = tmp_path / "export"
    pngs = _pngs(window.export_to(folder, dpi=DPI))
    engines = set()
    for stem, png in pngs.items():
        size = Image.open(io.BytesIO(png)).size
        for engine, image in _rasterised(folder / f"{stem}.svg", folder / f"{stem}.pdf", size).items():
            engines.add(engine)
            difference, colour = likeness(png, image)
            # ImageMagick draws text and lines bolder; pictures of random noise (the heatmaps here)
            # resample apart; lost curves or a blob would be far off either way
            bold = engine == "imagemagick"
            limit = 12.0 if bold else 8.0 if stem.startswith("heatmaps") else 5.0
            assert difference < limit and -0.3 < colour < (0.7 if bold else 0.3), (
                stem,
                engine,
                difference,
                colour,
            )
    if "pdftoppm" not in engines:
        pytest.skip("the PDFs were not rasterised: poppler's pdftoppm (Debian: poppler-utils) is missing")


def test_the_figure_code_is_torch_free():
    """The window draws its file figures with the report's code, which never imports torch."""
    import sys
    from pathlib import Path

    code = (
        "import sys, engine.reports.figures, engine.reports.figure_files, gui.export, gui.panels.metrics,"
        " gui.panels.evidence; assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    assert done.returncode == 0, done.stderr
