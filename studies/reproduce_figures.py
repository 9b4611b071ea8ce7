"""The FuseMax paper's figures (Figs. 6-12) as plotly HTML, the artifact's values beside ours.

One helper draws every figure: per series, the model's values as a solid line and the
artifact's as a dotted line of the same colour, so a gap is visible at a glance. Each figure is
a function of the reproduction's rows (studies.reproduce, studies.pareto), one HTML file each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import plotly.graph_objects as go
from plotly.colors import qualitative

from .html import write_html

#: a series: its name, x and y of ours, x and y of the artifact's (None where it has no value)
Series = tuple[str, list, list, list, list]


def series_figure(title: str, x_title: str, y_title: str, series: Iterable[Series],
                  log_y: bool = False, log_x: bool = False) -> go.Figure:
    """One figure: each series as 'NAME (attnsim)' solid and 'NAME (artifact)' dotted."""
    fig = go.Figure()
    palette = qualitative.Plotly + qualitative.D3
    for k, (name, x, ours, x_theirs, theirs) in enumerate(series):
        colour = palette[k % len(palette)]
        for x, values, who, dash in ((x, ours, "attnsim", "solid"),
                                     (x_theirs, theirs, "artifact", "dot")):
            if any(v is not None for v in values):
                fig.add_scatter(x=x, y=values, name=f"{name} ({who})", mode="lines+markers",
                                line={"color": colour, "dash": dash}, legendgroup=name)
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                      yaxis_type="log" if log_y else "linear",
                      xaxis_type="log" if log_x else None)
    return fig


def _by_point(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["config"], r["model"], r["seq_len"]): r for r in rows}


def _get(row: dict | None, prefix: str, col: str) -> float | None:
    return None if row is None else row.get(prefix + col)


def _attention_series(rows: list[dict], value: Callable[[dict, str], float | None],
                      baseline: str | None = None) -> list[Series]:
    """One series per (config, model) over the sequence lengths, the `baseline` config left
    out; `value(row, prefix)` with prefix '' (ours) or 'published_'."""
    out = []
    for cfg in dict.fromkeys(r["config"] for r in rows if r["config"] != baseline):
        for model in dict.fromkeys(r["model"] for r in rows):
            pts = [r for r in rows if r["config"] == cfg and r["model"] == model]
            x = [r["seq_len"] for r in pts]
            out.append((f"{cfg} {model}", x, [value(r, "") for r in pts], x,
                        [value(r, "published_") for r in pts]))
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def figures(rows: list[dict], linear: list[dict], pareto: list[dict],
            linear_of: dict[str, str]) -> dict[str, go.Figure]:
    """Every figure by file stem: attention latency, speedup and energy over unfused, 2D and
    1D utilisation, end-to-end speedup and energy over unfused, and the Pareto sweep.
    `linear_of` names the hardware whose linear layers each config runs end to end."""
    point = _by_point(rows)
    lin = {(r["linear_layers_of"], r["model"], r["seq_len"]): r for r in linear}

    def base(r: dict) -> dict | None:
        return point.get(("unfused", r["model"], r["seq_len"]))

    def end_to_end(r: dict | None, p: str, col: str) -> float | None:
        if r is None:
            return None
        extra = lin.get((linear_of.get(r["config"], ""), r["model"], r["seq_len"]))
        a, b = _get(r, p, col), _get(extra, p, col)
        return None if a is None or b is None else a + b

    def over_unfused(total: Callable, col: str, invert: bool) -> Callable:
        """A config's value relative to unfused at the same point (speedup: inverted)."""
        def value(r: dict, p: str) -> float | None:
            mine, theirs = total(r, p, col), total(base(r), p, col)
            return _ratio(theirs, mine) if invert else _ratio(mine, theirs)
        return value

    def ratio_series(total: Callable, col: str, invert: bool) -> list[Series]:
        return _attention_series(rows, over_unfused(total, col, invert), baseline="unfused")

    def metric(col: str) -> list[Series]:
        return _attention_series(rows, lambda r, p: _get(r, p, col))

    figs = {
        "attention_latency": series_figure(
            "Attention latency", "sequence length", "latency (s)", metric("latency_s"),
            log_y=True),
        "attention_speedup": series_figure(
            "Attention speedup over unfused (Fig. 6)", "sequence length", "speedup",
            ratio_series(_get, "latency_s", True), log_y=True),
        "attention_energy": series_figure(
            "Attention energy relative to unfused (Fig. 7)", "sequence length",
            "energy / unfused energy", ratio_series(_get, "energy_pj", False)),
        "utilisation_2d": series_figure(
            "2D array utilisation (Fig. 8)", "sequence length", "utilisation",
            metric("util_2d")),
        "utilisation_1d": series_figure(
            "1D array utilisation (Fig. 9)", "sequence length", "utilisation",
            metric("util_1d")),
        "end_to_end_speedup": series_figure(
            "End-to-end speedup over unfused, attention + linear layers (Fig. 10)",
            "sequence length", "speedup", ratio_series(end_to_end, "latency_s", True)),
        "end_to_end_energy": series_figure(
            "End-to-end energy relative to unfused (Fig. 11)", "sequence length",
            "energy / unfused energy", ratio_series(end_to_end, "energy_pj", False)),
    }
    if pareto:
        figs["pareto"] = series_figure(
            "FuseMax at 256K: latency against area, 2D arrays 16x16 .. 512x512 (Fig. 12)",
            "area (mm^2)", "latency (s)", _pareto_series(pareto), log_y=True, log_x=True)
    return figs


def _pareto_series(pareto: list[dict]) -> list[Series]:
    """One series per model: ours at our area, the artifact's at its own area."""
    out = []
    for model in dict.fromkeys(r["model"] for r in pareto):
        pts = [r for r in pareto if r["model"] == model]
        pub = [r for r in pts if r["published_area"] is not None]
        out.append((model, [r["area"] / 1e6 for r in pts], [r["latency"] for r in pts],
                    [r["published_area"] / 1e6 for r in pub],
                    [r["published_latency"] for r in pub]))
    return out


def write_figures(out_dir: Path, figs: dict[str, go.Figure]) -> list[Path]:
    """Each figure as OUT_DIR/<stem>.html, sharing one plotly.min.js."""
    return [write_html(fig, out_dir / f"{stem}.html") for stem, fig in figs.items()]
