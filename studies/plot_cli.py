"""`attnsim plot`: a sweep's Parquet rows as an interactive plotly figure."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Optional

import typer

from .sweep import read_results
from .html import write_html

_LOG = ("capacity", "bandwidth", "seq", "latency_s", "energy_pj", "edp_js", "traffic_bytes",
        "ideal_s", "compute_s", "transfer_s", "frequency", "batch")


def _column(df, name: str | None, what: str) -> str | None:
    if name is not None and name not in df.columns:
        close = difflib.get_close_matches(name, list(df.columns), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(df.columns)}"
        raise ValueError(f"{what} '{name}' is not a column of the results ({hint})")
    return name


def plot(
    results: Annotated[Path, typer.Argument(help="A sweep's --out directory.")],
    x: Annotated[str, typer.Option(help="Column on the x axis, e.g. global_buffer.capacity.")],
    html: Annotated[Path, typer.Option(help="Write the figure here (HTML).", show_default=False)],
    y: Annotated[str, typer.Option(help="Column on the y axis, e.g. latency_s.")] = "latency_s",
    color: Annotated[Optional[str], typer.Option(help="Column that colours the lines.")] = None,
    facet: Annotated[Optional[str], typer.Option(help="Column that splits the figure.")] = None,
    log: Annotated[Optional[bool], typer.Option(
        "--log/--linear", help="Log axes (default: log for sizes, rates, lengths, metrics).")] = None,
) -> None:
    """Plot a sweep: one line per value of --color, one panel per value of --facet.

    Examples:

    attnsim plot gb.parquet --x global_buffer.capacity --y latency_s --html gb.html

    attnsim plot s.parquet --x seq --y energy_pj --color dram.bandwidth --facet pe2d.shape --html s.html
    """
    import plotly.express as px

    df = read_results(results)
    cols = [_column(df, c, w) for c, w in ((x, "--x"), (y, "--y"), (color, "--color"),
                                           (facet, "--facet"))]
    df = df[df[y].notna()]
    if df.empty:
        raise ValueError(f"{results}: no point has a value of {y}")
    if color is not None:
        df = df.assign(**{color: df[color].astype(str)})
    logs = {a: (log if log is not None else any(k in a for k in _LOG)
                and df[a].dtype.kind in "if" and (df[a] > 0).all()) for a in (x, y)}
    fig = px.line(df.sort_values(x), x=x, y=y, color=cols[2], facet_col=cols[3], markers=True,
                  log_x=logs[x], log_y=logs[y], hover_data=["hash"],
                  title=f"{results.name}: {y} by {x}")
    write_html(fig, html)
    typer.echo(f"wrote {html} ({len(df)} points)")
