"""One way to save a plotly figure: an HTML file beside one shared plotly.min.js.

Offline (no CDN needed to view it) and small (a directory of figures shares one 4.8 MB copy
of plotly.js instead of embedding it in every file).
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import typer


def write_html(fig: go.Figure, path: Path | str) -> Path:
    """Write FIG to PATH; plotly.min.js is written next to it once, if not already there."""
    path = Path(path)
    fig.write_html(path, include_plotlyjs="directory")
    return path


def out_directory(path: Path | None) -> Path | None:
    """An --out directory checked before any work (a typer callback): a file there is refused
    at once rather than after the whole computation."""
    if path is None:
        return path
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} exists and is not a directory")
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise typer.BadParameter(f"{path} cannot be made: {above} is a file")
    return path
