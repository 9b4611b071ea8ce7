"""`attnsim sweep`: a grid of workload and spec values, one design, rows to Parquet with resume."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeRemainingColumn)

from archsim.spec import load_arch
from energy import ACCOUNTINGS

from .arch_cli import SetOpt
from .evaluate import DESIGNS, design
from .evaluate_cli import CascadeOpt, ModelOpt, require_cascade, workload
from .grid import parse_grid
from .sweep import METRICS, SweepConfig, read_results, run_sweep
from .workloads import parse_count

out = Console(markup=False, highlight=False)
METRIC_COLUMN = {"latency": "latency_s", "energy": "energy_pj", "edp": "edp_js"}


def sweep(
    grid: Annotated[list[str], typer.Option(
        "--grid", metavar="NAME=VALUES", show_default=False,
        help="An axis: NAME=V1,V2,... or NAME=START..STOP*FACTOR; NAME is seq, batch, heads, "
             "head_dim or a spec path (global_buffer.capacity, dram.bandwidth, pe2d.shape "
             "as 128x128). Repeatable; the grid is their product.")],
    out_path: Annotated[str, typer.Option("--out", help="Results directory (a Parquet "
                                          "dataset); rerunning with it resumes.")],
    arch: Annotated[Optional[str], typer.Option(
        help="Preset name or spec file (default: the preset the mapper was designed for).")] = None,
    overrides: SetOpt = None,
    mapper: Annotated[str, typer.Option(help=f"One of: {', '.join(DESIGNS)}.")] = "fusemax",
    cascade: CascadeOpt = None,
    model_name: ModelOpt = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help="Batch (without --model).")] = None,
    heads: Annotated[Optional[int], typer.Option(min=1, help="Heads (without --model).")] = None,
    head_dim: Annotated[Optional[int], typer.Option(min=1, help="E = F (without --model).")] = None,
    seq: Annotated[Optional[str], typer.Option(
        help="Sequence length when seq is not a grid axis, e.g. 64K.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 2,
    scheduler: Annotated[Optional[str], typer.Option(
        help="Dask scheduler address (tcp://HOST:PORT); default: a local process pool.")] = None,
    chunk: Annotated[Optional[int], typer.Option(
        min=1, help="Points per task and per Parquet part (default: about 8 tasks per worker).")] = None,
    metric: Annotated[str, typer.Option(help="latency, energy or edp: the best point reported.")] = "latency",
    accounting: Annotated[str, typer.Option(help="Energy accounting: complete or artifact.")] = "complete",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Evaluate a design at every point of a grid; rows go to Parquet as batches finish.

    One row per point: the swept values in columns named after the axes, latency (ideal,
    compute, transfer), energy, EDP, DRAM traffic, utilisation, an error for a point that does
    not fit, and a hash of the point's full configuration. Rerunning the same command skips
    the points already written (after Ctrl-C or a kill nothing written is lost or repeated).

    Examples:

    attnsim sweep --model bert --seq 64K --grid global_buffer.capacity=256KiB..64MiB*2 --out gb.parquet

    attnsim sweep --model t5 --grid seq=1K..64K*4 --grid dram.bandwidth=100GB/s,400GB/s,1TB/s --out s.parquet --workers 4

    attnsim sweep --model bert --seq 16K --grid pe2d.shape=64x64,128x128,256x256 --out pe.parquet --scheduler tcp://127.0.0.1:8786
    """
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    if metric not in METRICS:
        raise ValueError(f"--metric must be one of {', '.join(METRICS)}, got '{metric}'")
    d = design(mapper)
    require_cascade(mapper, d, cascade)
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"--accounting must be one of {', '.join(ACCOUNTINGS)}, "
                         f"got '{accounting}'")
    w = workload(model_name, batch, heads, head_dim)
    arch = arch or d.arch
    sets = tuple(overrides or ())
    d.check(load_arch(arch, sets))
    axes = [parse_grid(g, arch, sets) for g in grid]
    cfg = SweepConfig(arch, sets, mapper, w, parse_count(seq) if seq else None, accounting)
    if no_progress:
        report = run_sweep(cfg, axes, out_path, workers=workers, scheduler=scheduler, batch=chunk)
    else:
        with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                      TaskProgressColumn(), TextColumn("{task.fields[rate]} points/s"),
                      TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sweep", total=None, rate="-")

            def progress(done: int, total: int) -> None:
                if bar.tasks[task].total is None:  # the first call: points already written
                    bar.reset(task, total=total, completed=done, rate="-")
                    return
                speed = bar.tasks[task].speed
                bar.update(task, completed=done, total=total,
                           rate=f"{speed:.3g}" if speed else "-")

            report = run_sweep(cfg, axes, out_path, workers=workers, scheduler=scheduler,
                               batch=chunk, progress=progress)
    summary = {"out": report.out, "points": report.total, "skipped_done": report.skipped,
               "evaluated": report.evaluated, "failed": report.failed,
               "seconds": report.seconds, "points_per_s": report.points_per_s,
               "interrupted": report.interrupted}
    df = read_results(out_path) if report.skipped + report.evaluated else None
    col = METRIC_COLUMN[metric]
    if df is not None and df[col].notna().any():
        best = df.loc[df[col].idxmin()]
        summary["best"] = {"metric": metric, col: float(best[col])} | {
            a.name: _plain(best[a.name]) for a in axes}
    if fmt == "json":
        typer.echo(json.dumps(summary, indent=2))
    else:
        out.print(f"{report.out}: {report.total:,} points, {report.skipped:,} already done, "
                  f"{report.evaluated:,} evaluated ({report.failed:,} did not fit) in "
                  f"{report.seconds:.3g} s ({report.points_per_s:.4g} points/s)", soft_wrap=True)
        if "best" in summary:
            b = summary["best"]
            where = ", ".join(f"{a.name}={_text(a, b[a.name])}" for a in axes)
            out.print(f"best {metric}: {b[col]:.6g} ({col}) at {where}", soft_wrap=True)
    if report.interrupted:
        out.print("interrupted: the points written are kept; rerun the command to resume")
        raise typer.Exit(130)


def _plain(v):
    """A numpy scalar as a JSON-ready value."""
    return v.item() if hasattr(v, "item") else v


def _text(axis, value) -> str:
    """A swept value as the user wrote it (256KiB, not 262144.0) where the axis has it."""
    for v, t in zip(axis.values, axis.texts):
        if v == value:
            return t
    return str(value)
