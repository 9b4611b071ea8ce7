"""`attnsim reproduce instinfer`: every storage system over batch and drives, published points beside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from . import instinfer as study
from .csv_rows import to_csv
from .llm import llm
from .html import out_directory, write_html

out = Console(markup=False, highlight=False)


def instinfer(
    models: Annotated[str, typer.Option(
        help="Comma list of opt-13b, opt-30b, llama-2-13b (each on the paper's workload: "
             "Llama-2 2048 + 2048 tokens, OPT-30B on two GPUs' memory).")] = "opt-13b",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", callback=out_directory, help="Also write rows.csv, claims.csv and throughput.html here.")] = None,
) -> None:
    """InstInfer (arXiv 2409.04992): tokens/s of gpu, deepspeed, flexgen, instinfer and
    instinfer_sparse over batch 1..256 (one drive) and of the drive systems over 1..20 drives
    (batch 256), decoding 1024 tokens after a 1024-token prompt (Llama-2: 2048 + 2048); the
    paper's points (studies/data/instinfer/claims.csv) beside.

    JSON is the list of rows (system, model, batch, drives, tokens_per_s, oom, ...).

    Examples:

    attnsim reproduce instinfer

    attnsim reproduce instinfer --format json --out results/
    """
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    keys = [name.strip().lower() for name in models.split(",")]
    for key in keys:
        llm(key)  # an unknown model is a one-line error before any work
    if "opt-13b" not in keys:
        keys.insert(0, "opt-13b")  # the claims read from the sweep are OPT-13B's
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("systems x batch x drives", total=len(study.sweep_points(keys)))
        rows = study.rows(keys, progress=lambda: bar.advance(task))
    claims = study.claims(rows)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "rows.csv").write_text(to_csv(rows))
        (out_dir / "claims.csv").write_text(to_csv(claims))
        write_html(study.figure(rows, claims), out_dir / "throughput.html")
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    print_tables(rows, claims)


def print_tables(rows: list[dict], claims: list[dict]) -> None:
    for model in dict.fromkeys(r["model"] for r in rows):
        t = Table(title=f"{model}: tokens/s over batch, one drive (oom: does not fit)")
        t.add_column("system")
        for b in study.BATCHES:
            t.add_column(str(b), justify="right")
        for s in dict.fromkeys(r["system"] for r in rows):
            pts = {r["batch"]: r for r in rows if r["model"] == model and r["system"] == s
                   and r["drives"] == 1}
            t.add_row(s, *("oom" if pts[b]["oom"] else f"{pts[b]['tokens_per_s']:.3g}"
                           for b in study.BATCHES))
        out.print(t)
        d = Table(title=f"{model}: tokens/s over drives, batch {study.DRIVES_BATCH}")
        d.add_column("drives")
        d.add_column("holding heads", justify="right")
        for s in study.DRIVE_SYSTEMS:
            d.add_column(s, justify="right")
        for n in study.DRIVES:
            used = next(r for r in rows if r["model"] == model and r["system"] == "instinfer"
                        and r["batch"] == study.DRIVES_BATCH and r["drives"] == n)
            cells = [f"{used['drives_used']} x {used['heads_per_drive']}"]
            for s in study.DRIVE_SYSTEMS:
                r = next(r for r in rows if r["model"] == model and r["system"] == s
                         and r["batch"] == study.DRIVES_BATCH and r["drives"] == n)
                cells.append("oom" if r["oom"] else f"{r['tokens_per_s']:.3g}")
            d.add_row(str(n), *cells)
        out.print(d)
    c = Table(title="published points (InstAttention HPCA 2025, ZeRO-Inference)")
    for col in ("claim", "attnsim", "published", "ratio", "how"):
        c.add_column(col)
    for x in claims:
        c.add_row(x["claim"], f"{x['modelled']:.4g} {x['unit']}",
                  f"{x['published']:.4g} {x['unit']}", f"{x['ratio']:.2f}", x["how"])
    out.print(c)
