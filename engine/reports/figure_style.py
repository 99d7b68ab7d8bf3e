"""How a figure looks in each medium: its size and fonts (the HTML report's page, a paper's column
or its full width), and what makes a vector file render alike everywhere.

A *portable* figure (every file the window exports) uses no transparency and no clipping, and
gives every filled shape its own outline colour: ImageMagick's SVG renderer ignores
``fill-opacity``, drops clipped paths and outlines unstroked shapes in black, where browsers,
Inkscape, cairo and poppler do not. Bands are drawn in their colour mixed with white instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.textpath import TextPath

__all__ = [
    "COLUMN",
    "REPORT",
    "TWO_COLUMN",
    "FigureStyle",
    "band",
    "make_portable",
    "solid",
    "text_inches",
]

BAND_SHADE = 0.18  # how much of a metric's colour its band shows over white


@dataclass(frozen=True)
class FigureStyle:
    """Sizes in inches and points. ``width`` x ``height``: one plot's figure (a heatmap grid is
    ``width`` wide and as tall as its rows need); ``portable``: see the module's docstring."""

    width: float
    height: float
    tick: float
    label: float
    title: float
    legend: float
    line: float
    marker: float
    portable: bool

    @property
    def grid(self) -> dict:
        """Grid lines: a light grey, translucent in the report, solid in files."""
        if self.portable:
            return {"color": solid("#808080", 0.25), "linewidth": 0.5, "clip_on": False}
        return {"alpha": 0.25}


#: The HTML report's panels (PNG on a web page).
REPORT = FigureStyle(
    width=4.3, height=3.7, tick=7, label=8, title=9, legend=7, line=1.6, marker=3.5, portable=False
)
#: One column of a two-column paper (3.4 in), text at 7.5-8.5 pt: what the window exports.
COLUMN = FigureStyle(
    width=3.4, height=2.6, tick=7.5, label=8, title=8.5, legend=7.5, line=1.2, marker=3.0, portable=True
)
#: The full width of a two-column paper (7 in): the heatmap grid.
TWO_COLUMN = replace(COLUMN, width=7.0, height=3.2)


def solid(colour: str, share: float) -> tuple[float, float, float]:
    """``colour`` at ``share`` over white, as an opaque colour (what ``alpha=share`` shows on white)."""
    red, green, blue = to_rgb(colour)
    return tuple(1.0 - share * (1.0 - c) for c in (red, green, blue))  # type: ignore[return-value]


def text_inches(text: str, points: float) -> float:
    """How wide ``text`` is drawn at ``points`` in the default font, in inches (its longest line)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return max(
        (TextPath((0, 0), line, size=points).get_extents().width / 72.0 for line in lines), default=0.0
    )


def band(ax: Axes, x, low, high, colour: str, style: FigureStyle) -> None:
    """A 5-95 % (or 95 %) band between ``low`` and ``high``: translucent in the report; in files an
    opaque tint with thin edges, so overlapping bands still show both outlines."""
    if not style.portable:
        ax.fill_between(x, low, high, color=colour, alpha=BAND_SHADE, linewidth=0)
        return
    tint, edge = solid(colour, BAND_SHADE), solid(colour, 0.5)
    ax.fill_between(x, low, high, facecolor=tint, edgecolor=tint, linewidth=0.3, zorder=1)
    for bound in (low, high):
        ax.plot(x, bound, color=edge, linewidth=0.5, zorder=1.5)


def make_portable(figure: Figure) -> None:
    """Drop the clipping of everything drawn inside the axes and give every unstroked filled
    shape an outline of its own colour (see the module's docstring). The callers keep their data
    inside the axes' limits, so nothing spills."""
    for artist in figure.findobj(lambda a: a is not figure):
        axes = artist.axes
        if isinstance(axes, Axes) and artist is not axes.patch:
            artist.set_clip_on(False)
        if (
            isinstance(artist, Patch)
            and artist.get_fill()
            and artist.get_linewidth() == 0
            or isinstance(artist, Collection)
            and len(artist.get_facecolor())
            and not artist.get_linewidth().any()
        ):
            artist.set_edgecolor(artist.get_facecolor())
            artist.set_linewidth(0.3)
