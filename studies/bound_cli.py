"""`attnsim bound`: how much faster could this ever be? Tile-sparsity, roofline, traffic bounds."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from archsim.spec import load_arch
from archsim.units import format_size
from einsum_cascades import load

from .arch_cli import SetOpt
from .bounds import tiles as gna
from .bounds.roofline import ASSUMPTIONS as ROOF_ASSUMPTIONS
from .bounds.roofline import roofline
from .bounds.traffic import ASSUMPTIONS as TRAFFIC_ASSUMPTIONS
from .bounds.traffic import cascade_traffic
from .evaluate import common_phase, design, run_design
from .evaluate_cli import ModelOpt, workload
from .grid import parse_sizes
from .workloads import parse_count
from .html import write_html

out = Console(markup=False, highlight=False)
bound_app = typer.Typer(
    help="Bounds: tile sparsity (GNA), roofline, DRAM traffic.",
    no_args_is_help=True, add_completion=False,
    epilog="Example: attnsim bound roofline --model bert --seq 64K --over unfused")
FmtOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


def _format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    return fmt


def _print(title: str, rows: dict, assumptions: tuple[str, ...] | list[str]) -> None:
    t = Table(title=title)
    t.add_column("")
    t.add_column("value", justify="right")
    for k, v in rows.items():
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    out.print(t)
    out.print("assumptions: " + "; ".join(assumptions), soft_wrap=True)


@bound_app.command("tiles")
def tiles(
    layout: Annotated[str, typer.Option(help="Token layout, e.g. 30x48x80 (1-D, 2-D or 3-D).")],
    window: Annotated[str, typer.Option(help="Window per dimension, e.g. 18x24x24.")],
    q_tile: Annotated[str, typer.Option(help="Q tile shape, e.g. 4x8x8.")],
    kv_tile: Annotated[str, typer.Option(help="KV tile shape, e.g. 2x8x8.")],
    stride: Annotated[Optional[str], typer.Option(help="Stride per dimension (default 1).")] = None,
    dilation: Annotated[Optional[str], typer.Option(help="Dilation per dimension (default 1).")] = None,
    causal: Annotated[Optional[str], typer.Option(help="Causal flag per dimension, e.g. 1x0x0.")] = None,
    kv_tiling: Annotated[str, typer.Option(help="static or dynamic KV tiling.")] = "static",
    find_stride: Annotated[bool, typer.Option(
        "--search-stride", help="Also report the smallest stride that makes the mask fully "
                                "block-sparse, and the bound with it.")] = False,
    fmt: FmtOpt = "table",
) -> None:
    """Tile-sparsity bound of neighborhood attention (the GNA simulator's method).

    For every Q tile, the KV tiles it must visit under the exact mask; the bound is dense KV
    tiles over the worst Q tile's, at most the FLOP bound 1 / (1 - sparsity).

    Examples:

    attnsim bound tiles --layout 30x48x80 --window 18x24x24 --q-tile 4x8x8 --kv-tile 2x8x8

    attnsim bound tiles --layout 30x48x80 --window 18x24x24 --q-tile 4x8x8 --kv-tile 2x8x8 --search-stride -f json
    """
    _format(fmt)
    p = gna.Neighborhood(
        gna.parse_dims(layout, "layout"), gna.parse_dims(window, "window"),
        gna.parse_dims(q_tile, "q-tile"), gna.parse_dims(kv_tile, "kv-tile"),
        gna.parse_dims(stride, "stride") if stride else None,
        gna.parse_dims(dilation, "dilation") if dilation else None,
        gna.parse_flags(causal, "causal") if causal else None, kv_tiling)
    r = asdict(gna.tile_bound(p)) | {"stride": "x".join(map(str, p.stride))}
    if find_stride:
        s = gna.search_stride(p)
        r["block_sparse_stride"] = "x".join(map(str, s)) if s else None
        if s:
            r["tile_bound_at_that_stride"] = gna.tile_bound(replace(p, stride=s)).tile_bound
    if fmt == "json":
        typer.echo(json.dumps(r | {"assumptions": list(gna.ASSUMPTIONS)}, indent=2))
        return
    _print(f"neighborhood attention {layout}, window {window}, Q tile {q_tile}, KV tile "
           f"{kv_tile} ({kv_tiling} KV tiling)", r, gna.ASSUMPTIONS)


def _shapes(c, w, seq: int, m0: int) -> dict[str, int]:
    """Rank shapes of an attention cascade for a workload (M0 only if the cascade splits m)."""
    shapes = {"e": w.head_dim, "f": w.head_dim, "m": seq, "p": seq}
    if "m0" in c.ranks:
        shapes["m0"] = min(m0, seq)
    return shapes


M0Opt = Annotated[int, typer.Option("--m0", min=1, help="Key tile M0 of a cascade that splits "
                                    "m (default 256, FuseMax's array side).")]


@bound_app.command("roofline")
def roofline_cmd(
    seq: Annotated[str, typer.Option(help="Sequence length M = P, e.g. 64K (compared with a "
                                     "decode design: its context M, one query, P = 1).")],
    arch: Annotated[str, typer.Option(help="Preset name or spec file.")] = "fusemax",
    overrides: SetOpt = None,
    cascade: Annotated[str, typer.Option(help="Cascade to bound.")] = "one_pass",
    model_name: ModelOpt = None,
    batch: Annotated[Optional[int], typer.Option(min=1)] = None,
    heads: Annotated[Optional[int], typer.Option(min=1)] = None,
    head_dim: Annotated[Optional[int], typer.Option(min=1)] = None,
    over: Annotated[Optional[str], typer.Option(
        help="A design (mapper) to compare with: its evaluated latency over this bound is the "
             "attainable speedup.")] = None,
    mapper: Annotated[Optional[str], typer.Option(
        help="A design on --arch: its latency against the bound (how close it gets).")] = None,
    m0: M0Opt = 256,
    fmt: FmtOpt = "table",
) -> None:
    """Compute-bound and memory-bound time of a cascade on an architecture, and the speedup
    any mapping could attain over a design.

    Examples:

    attnsim bound roofline --arch fusemax --cascade one_pass --model bert --seq 64K --over unfused

    attnsim bound roofline --cascade one_pass --model t5 --seq 16K --mapper fusemax -f json
    """
    _format(fmt)
    c = load(cascade)
    w = workload(model_name, batch, heads, head_dim)
    n = parse_count(seq)
    a = load_arch(arch, overrides or ())
    phase = common_phase({f"{opt} {name}": design(name) for opt, name in (("--over", over), ("--mapper", mapper))
                    if name is not None})
    shapes = _shapes(c, w, n, m0) | ({"p": 1} if phase == "decode" else {})
    r = asdict(roofline(c, shapes, w.batch * w.heads, a))
    r = {"cascade": c.name, "arch": a.name, "model": w.name, "phase": phase, "seq": n} | r
    if over is not None:
        d = design(over)
        lat = run_design(d, w, n, load_arch(d.arch))["latency_s"]
        r |= {"over": over, "over_arch": d.arch, "over_latency_s": lat,
              "attainable_speedup": lat / r["bound_s"]}
    if mapper is not None:
        lat = run_design(design(mapper), w, n, a)["latency_s"]
        r |= {"mapper": mapper, "mapper_latency_s": lat, "fraction_of_bound": r["bound_s"] / lat}
    if fmt == "json":
        typer.echo(json.dumps(r | {"assumptions": list(ROOF_ASSUMPTIONS)}, indent=2))
        return
    _print(f"roofline of {c.name} on {a.name}: {w.name}, seq {n}", r, ROOF_ASSUMPTIONS)


@bound_app.command("traffic")
def traffic_cmd(
    seq: Annotated[str, typer.Option(help="Sequence length M = P, e.g. 16K.")],
    buffers: Annotated[str, typer.Option(help="Buffer sizes: 64KiB..64MiB*2 or a list.")]
    = "16KiB..256MiB*4",
    cascades: Annotated[str, typer.Option(help="Comma list of cascades.")]
    = "three_pass,two_pass,one_pass",
    model_name: ModelOpt = None,
    batch: Annotated[Optional[int], typer.Option(min=1)] = None,
    heads: Annotated[Optional[int], typer.Option(min=1)] = None,
    head_dim: Annotated[Optional[int], typer.Option(min=1)] = None,
    word_bits: Annotated[int, typer.Option(min=1, help="Bits per element.")] = 16,
    m0: M0Opt = 256,
    html: Annotated[Optional[Path], typer.Option(help="Write the ski slopes as plotly HTML.")] = None,
    fmt: FmtOpt = "table",
) -> None:
    """Least DRAM traffic of any mapping per buffer size (Orojenesis), per cascade: the cost of
    each extra pass as a curve (the "ski slope").

    Examples:

    attnsim bound traffic --model bert --seq 16K --buffers 64KiB..64MiB*2

    attnsim bound traffic --model t5 --seq 4K --cascades two_pass,one_pass -f json
    """
    _format(fmt)
    w = workload(model_name, batch, heads, head_dim)
    n = parse_count(seq)
    sizes = parse_sizes(buffers, "--buffers")
    word = word_bits / 8
    inst = w.batch * w.heads
    rows = []
    for name in (s.strip() for s in cascades.split(",")):
        c = load(name)
        curve = cascade_traffic(c, _shapes(c, w, n, m0))
        for b in sizes:
            t = curve.frontier.at(b / word)
            rows.append({"cascade": c.name, "passes": curve.passes, "buffer_bytes": b,
                         "dram_bytes": t * word * inst if math.isfinite(t) else None,
                         "over_compulsory": t / curve.compulsory if math.isfinite(t) else None,
                         "intensity": curve.frontier.ops / t if math.isfinite(t) else 0.0})
    if html is not None:
        import plotly.express as px
        write_html(px.line([r for r in rows if r["dram_bytes"]], x="buffer_bytes", y="dram_bytes",
                           color="cascade", log_x=True, log_y=True, markers=True,
                           title=f"{w.name}, seq {n}: least DRAM traffic per buffer size"), html)
    if fmt == "json":
        typer.echo(json.dumps({"rows": rows, "assumptions": list(TRAFFIC_ASSUMPTIONS)}, indent=2))
        return
    t = Table(title=f"{w.name}, seq {n}: least DRAM traffic (GB) per buffer, x compulsory")
    t.add_column("buffer")
    names = list(dict.fromkeys(r["cascade"] for r in rows))
    for c in names:
        t.add_column(c, justify="right")
    for b in sizes:
        cells = []
        for c in names:
            r = next(r for r in rows if r["cascade"] == c and r["buffer_bytes"] == b)
            cells.append("does not fit" if r["dram_bytes"] is None else
                         f"{r['dram_bytes'] / 1e9:.4g} ({r['over_compulsory']:.3g}x)")
        t.add_row(format_size(b), *cells)
    out.print(t)
    out.print("assumptions: " + "; ".join(TRAFFIC_ASSUMPTIONS), soft_wrap=True)
