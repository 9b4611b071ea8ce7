"""`attnsim reproduce fusemax`: the FuseMax paper's attention, end-to-end and headline numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from . import pareto as pareto_study
from . import reproduce as study
from . import reproduce_figures
from .instinfer_cli import instinfer
from .csv_rows import to_csv
from .workloads import MODELS
from .html import out_directory, write_html

out = Console(markup=False, highlight=False)
reproduce_app = typer.Typer(
    help="Reproduce published results beside the published values.",
    no_args_is_help=True, add_completion=False,
    epilog="Example: attnsim reproduce fusemax --out results/")
reproduce_app.command("instinfer")(instinfer)  # InstInfer's reproduction lives in its own module


@reproduce_app.command("fusemax")
def fusemax(
    models: Annotated[str, typer.Option(help="Comma list of BERT, TrXL, T5, XLM.")] = "BERT,TrXL,T5,XLM",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", callback=out_directory, help="Also write the CSVs and plotly HTML figures here.")] = None,
) -> None:
    """FuseMax (MICRO 2024): every design on BERT, TrXL, T5, XLM at 1K..1M, beside the artifact.

    Rows carry the artifact's columns (config, model, seq_len, traffic_bytes, latency_s,
    energy_pj, util_2d, util_1d) and the published value of each where the artifact has the
    point (XLM is held back there). Energy uses the artifact-compatible accounting; the cascade
    on FLAT's hardware runs with the artifact's named switches (printed). The headline means
    are printed beside the paper's, then the Pareto sweep (2D arrays 16x16 .. 512x512 at 256K:
    latency and area, pareto.csv's columns). --out writes the CSVs and the paper's figures
    (Figs. 6-12) as plotly HTML.

    Examples:

    attnsim reproduce fusemax

    attnsim reproduce fusemax --models BERT --format csv --out results/
    """
    if fmt not in ("table", "csv", "json"):
        raise ValueError(f"--format must be table, csv or json, got '{fmt}'")
    keys = []
    for name in models.split(","):
        key = name.strip().lower()
        if key not in MODELS:
            raise ValueError(f"unknown model '{name}' (models: BERT, TrXL, T5, XLM)")
        keys.append(key)
    total = len(study.CONFIGS) * len(keys) * len(study.SEQS)
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("designs x models x lengths", total=total)
        rows = study.attention_rows(keys, progress=lambda: bar.advance(task))
        task = bar.add_task("Pareto sweep", total=len(keys) * len(pareto_study.SIDES))
        pareto = pareto_study.pareto_rows(keys, progress=lambda: bar.advance(task))
    linear = study.linear_rows(keys)
    heads = study.headline(rows, linear)
    if out_dir is not None:
        write(out_dir, rows, linear, heads)
        write_pareto(out_dir, rows, linear, pareto)
    if fmt == "json":
        typer.echo(json.dumps({"attention": rows, "linear_layers": linear, "headline": heads,
                               "pareto": pareto}, indent=2))
    elif fmt == "csv":  # one CSV block per table, each with its header, blank-line separated
        typer.echo("\n".join(to_csv(t) for t in (rows, linear, pareto)), nl=False)
    else:
        print_tables(rows, heads)
        print_pareto(pareto)


def write(out_dir: Path, rows: list[dict], linear: list[dict], heads: list[dict]) -> None:
    """attention.csv, linear_layers.csv and headline.csv in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in (("attention", rows), ("linear_layers", linear), ("headline", heads)):
        (out_dir / f"{name}.csv").write_text(to_csv(data))


def write_pareto(out_dir: Path, rows: list[dict], linear: list[dict], pareto: list[dict]) -> None:
    """pareto.csv and the paper's figures (one HTML each, the artifact's values beside)."""
    (out_dir / "pareto.csv").write_text(to_csv(pareto))
    linear_of = {c.name: c.linear_of for c in study.CONFIGS}
    reproduce_figures.write_figures(
        out_dir, reproduce_figures.figures(rows, linear, pareto, linear_of))


def print_pareto(pareto: list[dict]) -> None:
    t = Table(title="Pareto at 256K (Fig. 12): attnsim / artifact, artifact area accounting")
    for col in ("model", "array", "buffer", "latency (s)", "vs artifact", "area (mm^2)",
                "vs artifact"):
        t.add_column(col)
    for r in pareto:
        def vs(col: str) -> str:
            pub = r[f"published_{col}"]
            return f"{r[col] / pub:.4f}x" if pub else "-"
        t.add_row(r["model"], f"{r['PE_dim']}x{r['PE_dim']}", f"{r['buffer_bytes'] >> 10} KiB",
                  f"{r['latency']:.5g}", vs("latency"), f"{r['area'] / 1e6:.5g}", vs("area"))
    out.print(t)


def print_tables(rows: list[dict], heads: list[dict]) -> None:
    t = Table(title="attention: attnsim / artifact (energy: artifact accounting)")
    for col in ("config", "model", "seq", "latency", "traffic", "energy", "util 2D", "util 1D"):
        t.add_column(col)
    for r in rows:
        def ratio(col: str) -> str:
            pub = r[f"published_{col}"]
            return f"{r[col] / pub:.3f}x" if pub else f"{r[col]:.4g}"

        def util(col: str) -> str:
            pub = r[f"published_{col}"]
            return f"{r[col]:.3f} ({pub:.3f})" if pub is not None else f"{r[col]:.3f}"

        t.add_row(r["config"], r["model"], r["seq_len"], ratio("latency_s"),
                  ratio("traffic_bytes"), ratio("energy_pj"), util("util_2d"), util("util_1d"))
    out.print(t)
    out.print("energy: artifact-compatible accounting (register files of one PE per array)")
    for cfg, note in dict.fromkeys((r["config"], r.get("artifact_switches")) for r in rows):
        if note:
            out.print(f"{cfg}: {note}")
    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    # two narrow tables rather than one of twelve columns, so both read in an 80-column terminal
    for title, n, ours, theirs, who in (
            ("every point run vs the paper's means (4 models x 6 lengths)", "points", "", "paper_", "paper"),
            ("the points run that the artifact has (no XLM) vs the artifact", "shared_points",
             "_on_shared", "published_", "artifact")):
        h = Table(title=f"headline, FuseMax (binding) vs baseline, mean over {title}")
        for col in ("vs", "scope", "points", "speedup", who, "energy", who):
            h.add_column(col)
        for x in heads:
            h.add_row(x["baseline"], x["scope"], str(x[n]), f(x[f"speedup{ours}"], ".2f"),
                      f(x[f"{theirs}speedup"], ".2f"), f(x[f"energy_ratio{ours}"], ".3f"),
                      f(x[f"{theirs}energy_ratio"], ".3f"))
        out.print(h)


@reproduce_app.command("flashattention")
def flashattention(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", callback=out_directory, help="Also write the CSVs and plotly HTML figures here.")] = None,
) -> None:
    """FlashAttention 1/2/3, Flash-Decoding, LeanAttention: the GPU-tile model beside published.

    H100 forward TFLOP/s of FA3, FA2 and standard attention at 512..16K (FA3 paper) and of FA3
    and FA2 at 16K for head dims 64 and 256 and causal (same paper), FA3 and FA2 (PyTorch SDPA
    among them) beside dated third-party H100 measurements (2024-12 to 2026-09) and the tensor
    cores' ceiling beside the best
    dense GEMM measured on the part, A100 forward TFLOP/s of
    FA2 and standard attention at head dims 64 and 128, with and without the causal mask,
    512..16K (FA2 paper Fig. 5, chart reads), FA2's A100 peak (FA2 paper), FA1's GPT-2 medium
    HBM traffic and runtime (forward + backward, as published), and decode at
    batch 1 as the context grows to 512K (Flash-Decoding, LeanAttention against FA2).
    The csv format prints the H100 forward rows.

    Examples:

    attnsim reproduce flashattention

    attnsim reproduce flashattention --format json --out results/
    """
    from . import flashattention as fa

    if fmt not in ("table", "csv", "json"):
        raise ValueError(f"--format must be table, csv or json, got '{fmt}'")
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("kernels x lengths", total=3 * len(fa.SEQS) + len(fa.DECODE_CONTEXTS)
                            + len(fa.published("a100_forward.csv")))
        forward = fa.forward_rows(progress=lambda: bar.advance(task))
        a100 = fa.chart_rows("a100", progress=lambda: bar.advance(task))
        decode = fa.decode_rows(progress=lambda: bar.advance(task))
    peaks, fa1, shapes = fa.peak_rows(), fa.fa1_rows(), fa.shape_rows()
    claims = fa.decode_claims(decode)
    tables = {"h100_forward": forward, "h100_shapes": shapes, "h100_measured": fa.measured_rows(),
              "h100_gemm_ceiling": [fa.gemm_ceiling()], "a100_forward": a100, "peaks": peaks,
              "fa1_gpt2": fa1, "decode": decode, "decode_claims": claims}
    if out_dir is not None:
        write_flashattention(out_dir, tables)
    if fmt == "json":
        typer.echo(json.dumps(tables, indent=2))
    elif fmt == "csv":
        typer.echo(to_csv(forward), nl=False)
    else:
        print_flashattention(tables)


def write_flashattention(out_dir: Path, tables: dict[str, list[dict]]) -> None:
    """One CSV per table, throughput.html (H100 TFLOP/s by length), a100.html (A100 panels)
    and decode.html (latency by context) in `out_dir`."""
    import plotly.graph_objects as go

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (out_dir / f"{name}.csv").write_text(to_csv(rows))
    fig = go.Figure()
    for kernel in ("fa3", "fa2", "standard"):
        pts = [r for r in tables["h100_forward"] if r["kernel"] == kernel]
        x = [r["seq_len"] for r in pts]
        fig.add_scatter(x=x, y=[r["tflops"] for r in pts], name=f"{kernel} (attnsim)")
        fig.add_scatter(x=x, y=[r["published_tflops"] for r in pts], line_dash="dot",
                        name=f"{kernel} (published)")
        seen = [r for r in tables["h100_measured"] if r["kernel"] == kernel and not r["causal"]]
        for run in dict.fromkeys(r["run"] for r in seen):  # one marker trace per run, in order
            pts = [r for r in seen if r["run"] == run]
            fig.add_scatter(x=[r["seq_len"] for r in pts], y=[r["measured_tflops"] for r in pts],
                            mode="markers", marker_symbol="x", marker_size=10,
                            name=f"{pts[0]['measured_kernel']} (measured {pts[0]['date']}, {run}; "
                                 f"batch {pts[0]['batch']} x {pts[0]['heads']} heads)")
    ceiling = tables["h100_gemm_ceiling"][0]
    fig.add_hline(y=ceiling["best_gemm_tflops"], line_dash="dash", line_color="grey",
                  annotation_text=f"best measured dense GEMM ({ceiling['best_gemm']})")
    fig.update_layout(title="H100 forward, head dim 128, non-causal", xaxis_type="log",
                      xaxis_title="sequence length", yaxis_title="TFLOP/s")
    write_html(fig, out_dir / "throughput.html")
    write_html(a100_figure(tables["a100_forward"]), out_dir / "a100.html")
    fig = go.Figure()
    rows = tables["decode"]
    for kernel in ("fa2", "flash_decoding", "lean"):
        fig.add_scatter(x=[r["context"] for r in rows], y=[r[f"{kernel}_s"] for r in rows],
                        name=kernel)
    fig.update_layout(title=f"decode, batch 1, 32 heads of 128 ({rows[0]['arch']})",
                      xaxis_type="log", yaxis_type="log", xaxis_title="context",
                      yaxis_title="latency (s)")
    write_html(fig, out_dir / "decode.html")


def a100_figure(rows: list[dict]):
    """FA2 and standard on A100, one panel per (head dim, causal): attnsim solid, the FA2
    paper's chart reads dotted."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    panels = sorted({(r["head_dim"], r["causal"]) for r in rows})
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=[
        f"d {d}{', causal' if c else ''}" for d, c in panels])
    for col, (d, c) in enumerate(panels, 1):
        for i, kernel in enumerate(("fa2", "standard")):
            pts = [r for r in rows if (r["head_dim"], r["causal"], r["kernel"]) == (d, c, kernel)]
            x, color = [r["seq_len"] for r in pts], qualitative.Plotly[i]
            fig.add_scatter(x=x, y=[r["tflops"] for r in pts], name=f"{kernel} (attnsim)",
                            line_color=color, legendgroup=kernel, showlegend=col == 1,
                            row=1, col=col)
            fig.add_scatter(x=x, y=[r["published_tflops"] for r in pts], line_dash="dot",
                            name=f"{kernel} (FA2 paper)", line_color=color,
                            legendgroup=f"{kernel}p", showlegend=col == 1, row=1, col=col)
        fig.update_xaxes(type="log", title_text="sequence length", row=1, col=col)
    fig.update_yaxes(title_text="TFLOP/s", row=1, col=1)
    fig.update_layout(title="A100 forward (FA2 paper Fig. 5 chart reads dotted)")
    return fig


def print_flashattention(tables: dict[str, list[dict]]) -> None:
    def f(v, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    t = Table(title="H100 forward TFLOP/s: attnsim / published (FA3 paper)")
    for col in ("kernel", "seq", "attnsim", "published", "ratio", "tiles", "util tensor"):
        t.add_column(col)
    for r in tables["h100_forward"]:
        t.add_row(r["kernel"], str(r["seq_len"]), f(r["tflops"], ".0f"),
                  f(r["published_tflops"], ".0f"), f(r["ratio"], ".2f"), r["tiles"],
                  f(r["util_tensor_core"], ".2f"))
    out.print(t)
    h = Table(title="H100 forward TFLOP/s at 16K, other head dims and causal: attnsim / "
                    "published (FA3 paper)")
    for col in ("kernel", "head dim", "causal", "attnsim", "published", "ratio", "tiles"):
        h.add_column(col)
    for r in tables["h100_shapes"]:
        h.add_row(r["kernel"], str(r["head_dim"]), str(r["causal"]), f(r["tflops"], ".0f"),
                  f(r["published_tflops"], ".0f"), f(r["ratio"], ".2f"), r["tiles"])
    out.print(h)
    m = Table(title="H100 forward TFLOP/s: attnsim / measured (dated third-party runs, listed "
                    "below; studies/data/flashattention/SOURCE.md)")
    for col in ("kernel", "b x h x d", "seq", "attnsim", "measured", "ratio", "run"):
        m.add_column(col)
    runs = list(dict.fromkeys((r["date"], r["run"]) for r in tables["h100_measured"]))
    for r in tables["h100_measured"]:
        ran = "" if r["measured_kernel"] == r["kernel"] else f" ({r['measured_kernel']})"
        m.add_row(r["kernel"] + ran + (" causal" if r["causal"] else ""),
                  f"{r['batch']}x{r['heads']}x{r['head_dim']}", str(r["seq_len"]),
                  f(r["tflops"], ".0f"), f(r["measured_tflops"], ".0f"), f(r["ratio"], ".2f"),
                  str(runs.index((r["date"], r["run"])) + 1))
    out.print(m)
    for k, (date, run) in enumerate(runs, 1):
        out.print(f"  run {k}: {run}, {date}")
    c = tables["h100_gemm_ceiling"][0]
    out.print(f"H100 tensor cores: peak {c['peak_tflops']:.0f} TFLOP/s x attainable "
              f"{c['attainable']} = {c['model_ceiling_tflops']:.0f} in the model; best measured "
              f"dense GEMM {c['best_gemm_tflops']:.0f} ({c['best_gemm']})")
    a = Table(title="A100 forward TFLOP/s: attnsim / published (FA2 paper Fig. 5, chart reads; "
                    "chart check = the point's fwd, bwd and fwd + bwd reads agree at 1.00)")
    for col in ("kernel", "head dim", "causal", "seq", "attnsim", "published", "ratio",
                "chart check", "tiles"):
        a.add_column(col)
    for r in tables["a100_forward"]:
        a.add_row(r["kernel"], str(r["head_dim"]), str(r["causal"]), str(r["seq_len"]),
                  f(r["tflops"], ".0f"), f(r["published_tflops"], ".0f"), f(r["ratio"], ".2f"),
                  f(r["chart_consistency"], ".2f"), r["tiles"])
    out.print(a)
    p = Table(title="peaks (TFLOP/s)")
    for col in ("kernel", "arch", "what", "attnsim", "published", "ratio"):
        p.add_column(col)
    for r in tables["peaks"]:
        p.add_row(r["kernel"], r["arch"], r["what"], f(r["tflops"], ".0f"),
                  f(r["published_tflops"], ".0f"), f(r["ratio"], ".2f"))
    out.print(p)
    g = Table(title="FA1 GPT-2 medium on A100, forward + backward")
    for col in ("kernel", "HBM GB", "published", "runtime ms", "published", "GFLOPs", "published"):
        g.add_column(col)
    for r in tables["fa1_gpt2"]:
        g.add_row(r["kernel"], f(r["hbm_gb"], ".2f"), f(r["published_hbm_gb"], ".1f"),
                  f(r["runtime_ms"], ".2f"), f(r["published_runtime_ms"], ".1f"),
                  f(r["gflops"], ".1f"), f(r["published_gflops"], ".1f"))
    out.print(g)
    d = Table(title=f"decode, batch 1, 32 heads of 128 on {tables['decode'][0]['arch']}")
    for col in ("context", "fa2 us", "flash_decoding us", "lean us", "FD/FA2", "lean/FA2",
                "lean/FD"):
        d.add_column(col)
    for r in tables["decode"]:
        d.add_row(str(r["context"]), f(r["fa2_s"] * 1e6, ".1f"),
                  f(r["flash_decoding_s"] * 1e6, ".1f"), f(r["lean_s"] * 1e6, ".1f"),
                  f(r["flash_decoding_over_fa2"], ".2f"), f(r["lean_over_fa2"], ".2f"),
                  f(r["lean_over_flash_decoding"], ".2f"))
    out.print(d)
    c = Table(title="published decode speedups beside the model's")
    for col in ("claim", "kernel", "over", "context", "attnsim", "published"):
        c.add_column(col)
    for r in tables["decode_claims"]:
        c.add_row(r["claim"], r["kernel"], r["baseline"], str(r["context"]),
                  f(r["speedup"], ".2f"), f(r["published_speedup"], ".2f"))
    out.print(c)
