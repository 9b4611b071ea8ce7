"""One way to save a plotly figure: an HTML file beside one shared plotly.min.js.

Offline (no CDN needed to view it) and small (a directory of figures shares one 4.8 MB copy
of plotly.js instead of embedding it in every file).
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go


def write_html(fig: go.Figure, path: Path | str) -> Path:
    """Write FIG to PATH; plotly.min.js is written next to it once, if not already there."""
    path = Path(path)
    fig.write_html(path, include_plotlyjs="directory")
    return path
