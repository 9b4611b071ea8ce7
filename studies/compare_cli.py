"""`attnsim compare`: designs side by side over sequence lengths, each on its own hardware."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from archsim.spec import load_arch
from einsum_cascades import CascadeError

from .evaluate import common_phase, design, evaluate as evaluate_design
from .evaluate_cli import ModelOpt, workload
from .workloads import label, parse_counts
from .html import write_html

out = Console(markup=False, highlight=False)
#: a row's figures (None where the point does not run)
METRICS = ("latency_s", "energy_pj", "traffic_bytes", "speedup", "energy_ratio")


def compare(
    designs: Annotated[str, typer.Option(help="Comma list of mappers, e.g. unfused,fusemax.")],
    seq: Annotated[str, typer.Option(help="Lengths: 1K..1M*4, 1K,4K or 64K.")],
    model_name: ModelOpt = None,
    batch: Annotated[Optional[int], typer.Option(min=1)] = None,
    heads: Annotated[Optional[int], typer.Option(min=1)] = None,
    head_dim: Annotated[Optional[int], typer.Option(min=1)] = None,
    arch_names: Annotated[Optional[str], typer.Option(
        "--arch", help="Comma list of presets or spec files to run every design on "
                       "(default: each design on its own preset).")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write a plotly HTML figure here.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Compare designs over sequence lengths: latency, energy, traffic, speedup over the first.

    Each design runs on the preset it was designed for (fusemax, architecture on fusemax;
    unfused on unfused; flat, cascade on flat; fa2, fa3 on h100, fa1 on a100: `attnsim
    evaluate --help` lists them), or with --arch on each architecture given.

    Examples:

    attnsim compare --designs unfused,fusemax --model bert --seq 1K..1M*4

    attnsim compare --designs unfused,flat,cascade,fusemax --model t5 --seq 4K,64K --html c.html

    attnsim compare --designs fa2,standard --arch a100,h100 --batch 1 --heads 16 --head-dim 128
    --seq 1K..16K*4
    """
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    chosen = [design(d.strip()) for d in designs.split(",")]
    common_phase({d.name: d for d in chosen})  # no speedup of decode over prefill
    w = workload(model_name, batch, heads, head_dim)
    given = [load_arch(a.strip()) for a in arch_names.split(",")] if arch_names else None
    for d in chosen:
        for a in given or ():
            d.check(a)
    if given:
        pairs = [(d, a) for a in given for d in chosen]
    else:
        own = {d.arch: load_arch(d.arch) for d in chosen}
        pairs = [(d, own[d.arch]) for d in chosen]
    rows = []
    for n in parse_counts(seq):
        base = None
        for d, a in pairs:
            row = {"design": d.name, "arch": a.name, "seq_len": label(n)}
            try:
                r = evaluate_design(d.build(w, n, a), a)
            except (CascadeError, ValueError) as exc:  # a point that does not run (e.g. OOM)
                rows.append(row | dict.fromkeys(METRICS) | {"error": str(exc)})
                continue
            base = base or r
            rows.append(row | {"latency_s": r["latency_s"], "energy_pj": r["energy_pj"],
                               "traffic_bytes": r["traffic_bytes"],
                               "speedup": base["latency_s"] / r["latency_s"],
                               "energy_ratio": r["energy_pj"] / base["energy_pj"],
                               "error": None})
    if all(r["error"] for r in rows):
        raise ValueError(rows[0]["error"])
    if html is not None:
        import plotly.express as px
        write_html(px.line(rows, x="seq_len", y="latency_s", color="design", log_y=True,
                           markers=True, title=f"{w.name}: attention latency by design"), html)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    first = pairs[0]
    t = Table(title=f"{w.name}: designs compared (speedup and energy relative to "
                    f"{first[0].name} on {first[1].name})")
    for col in ("seq", "design", "arch", "latency_s", "energy (J)", "DRAM GB", "speedup", "energy"):
        t.add_column(col)
    for r in rows:
        if r["error"]:
            t.add_row(r["seq_len"], r["design"], r["arch"], *(["-"] * 5))
            continue
        t.add_row(r["seq_len"], r["design"], r["arch"], f"{r['latency_s']:.4g}",
                  f"{r['energy_pj'] / 1e12:.4g}", f"{r['traffic_bytes'] / 1e9:.4g}",
                  f"{r['speedup']:.2f}x", f"{r['energy_ratio']:.3f}")
    out.print(t)
    for r in rows:
        if r["error"]:
            out.print(f"{r['design']} at {r['seq_len']}: {r['error']}")
