"""`attnsim bench`: mappings per second of the estimator, with a progress line and a ratio."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import bench as bench_study

out = Console(markup=False, highlight=False)


def bench(
    n: Annotated[int, typer.Option("--n", min=1, help="Mappings scored by the Numba path.")] = 1_000_000,
    python_n: Annotated[int, typer.Option("--python-n", min=1,
                                          help="Mappings scored by the plain-Python path.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random tilings.")] = 0,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Score a standard batch of mappings and report mappings per second.

    The batch: the 1-pass cascade on the fusemax preset (P = M = 16K, E = F = 64) under random
    valid tilings. The same mappings go through a plain-Python evaluation in the same run, and
    the ratio of the two speeds is reported (measured, never assumed); the Numba path runs
    twice, on Numba's threads (NUMBA_NUM_THREADS, all cores by default) and on one. The first
    call's time includes loading or compiling the Numba code.

    Examples:

    attnsim bench

    attnsim bench --n 200000 --python-n 200 --format json
    """
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    with out.status(f"scoring {n:,} mappings ..."):
        r = bench_study.run(n=n, python_n=python_n, seed=seed)
    if fmt == "json":
        typer.echo(json.dumps(r, indent=2))
        return
    t = Table(title=f"estimator benchmark: {r['cascade']} on {r['arch']}")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("mappings scored (Numba)", f"{r['n_mappings']:,} ({r['n_valid']:,} fit)")
    t.add_row(f"mappings_per_s (Numba, {r['threads']} threads)", f"{r['mappings_per_s']:,.0f}")
    t.add_row("mappings_per_s (Numba, 1 thread)", f"{r['one_thread_mappings_per_s']:,.0f}")
    t.add_row("mappings_per_s (plain Python)", f"{r['python_mappings_per_s']:,.0f}")
    t.add_row("speed ratio (Numba threads / plain Python)", f"{r['speedup']:,.0f}x")
    t.add_row("first call (JIT or cache load)", f"{r['first_call_s']:.2f} s")
    t.add_row("best latency found", f"{r['best_latency_s']:.4g} s")
    t.add_row("paths agree", "yes" if r["paths_agree"] else "NO")
    out.print(t)
