"""`attnsim bound`: how much faster could this ever be? Tile-sparsity, roofline, traffic bounds."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .bounds import tiles as gna

out = Console(markup=False, highlight=False)
bound_app = typer.Typer(no_args_is_help=True, add_completion=False)
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
    r = gna.tile_bound(p).to_dict() | {"stride": "x".join(map(str, p.stride))}
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
