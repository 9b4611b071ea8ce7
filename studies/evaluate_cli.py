"""`attnsim evaluate`: one design on one workload, with the split of its latency and energy."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from archsim.spec import load_arch
from einsum_cascades import load

from .arch_cli import SetOpt
from .evaluate import DESIGNS, Design, design, run_design
from .gpu_evaluate import GPU_DESIGNS, evaluate_gpu, problem
from .storage_cli import SYSTEM_HELP, evaluate_storage
from .llm import LLMS
from .workloads import MODELS, Workload, model, option_count

out = Console(markup=False, highlight=False)


#: --model, for every command taking a workload (its names from the registries)
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", help=f"{', '.join(MODELS)} (FuseMax's workloads) or {', '.join(LLMS)} (one "
                    f"layer's attention at batch 1; storage presets take --batch).")]

#: --cascade, for every command mapping one design's cascade
CascadeOpt = Annotated[Optional[str], typer.Option(
    help="The mapper's cascade, by name or file: each mapper maps one cascade, so this checks "
         "it (default: the mapper's own).")]


def require_cascade(mapper: str, d: Design, cascade: str | None) -> None:
    """A --cascade given must be the one the design's mapper maps."""
    if cascade is not None and load(cascade).name != d.cascade:
        raise ValueError(f"mapper '{mapper}' runs the '{d.cascade}' cascade, not '{cascade}'")


def evaluate(
    seq: Annotated[Optional[str], typer.Option(
        help="Sequence length M = P, e.g. 64K (GPU decode: optional, one query).")] = None,
    arch: Annotated[Optional[str], typer.Option(
        help="Preset name or spec file (default: the preset the mapper was designed for).")] = None,
    overrides: SetOpt = None,
    cascade: CascadeOpt = None,
    mapper: Annotated[Optional[str], typer.Option(
        help=f"One of: {', '.join(DESIGNS)} (default fusemax; not on storage presets, whose "
             f"systems --system names).")] = None,
    model_name: ModelOpt = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help="Batch (without --model; with it on storage presets).")] = None,
    heads: Annotated[Optional[int], typer.Option(min=1, help="Heads (without --model).")] = None,
    head_dim: Annotated[Optional[int], typer.Option(
        min=1, help="Head dimension E = F (without --model).")] = None,
    accounting: Annotated[str, typer.Option(
        help="Energy accounting: complete, or artifact (FuseMax artifact's).")] = "complete",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    phase: Annotated[Optional[str], typer.Option(help="prefill or decode.")] = None,
    context_text: Annotated[Optional[str], typer.Option(
        "--context", help="Tokens in the KV cache (decode), e.g. 2048 or 128K.")] = None,
    system_name: Annotated[Optional[str], typer.Option("--system", help=SYSTEM_HELP)] = None,
    drives: Annotated[Optional[int], typer.Option(
        min=1, help="Drives splitting the heads (storage presets).")] = None,
    causal: Annotated[bool, typer.Option(
        "--causal", help="Causal mask (GPU mappers): masked KV tiles are skipped.")] = False,
    kv_heads: Annotated[Optional[int], typer.Option(
        min=1, help="KV heads for grouped-query attention (GPU prefill mappers).")] = None,
) -> None:
    """Map a workload with a design, score it, and say how long, how much energy and why.

    The latency is split into ideal (all units busy, free memory), compute (the schedule with
    free memory) and transfer (the schedule with free compute); the assumptions are printed.

    Examples:

    attnsim evaluate --arch fusemax --cascade one_pass --model bert --seq 64K

    attnsim evaluate --mapper flat --arch flat --model bert --seq 16K

    attnsim evaluate --mapper search --batch 1 --heads 32 --head-dim 128 --seq 16K -f json

    attnsim evaluate --arch instinfer_csd --model opt-13b --phase decode --batch 64 --context 2048 --system flexgen

    attnsim evaluate --arch h100 --mapper fa3 --batch 1 --heads 16 --head-dim 128 --seq 16K

    attnsim evaluate --mapper fa2 --batch 4 --heads 32 --head-dim 128 --seq 4K --causal

    attnsim evaluate --mapper flash_decoding --batch 1 --heads 32 --head-dim 128 --phase decode
    --context 131072 -f json
    """
    if fmt not in ("table", "json"):
        raise ValueError(f"--format must be table or json, got '{fmt}'")
    context = option_count("--context", context_text)
    mapper_given = mapper
    d = design(mapper or "fusemax")
    mapper = d.name
    a = load_arch(arch or d.arch, overrides or ())
    if a.substrate == "storage":
        extra = [o for o, v in (("--seq", seq), ("--mapper", mapper_given), ("--cascade", cascade),
                                ("--heads", heads),
                                ("--head-dim", head_dim), ("--kv-heads", kv_heads),
                                ("--causal", causal or None)) if v is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)}: not for a storage architecture ('{a.name}'), "
                             f"which runs the decode step of --model")
        evaluate_storage(a, model_name, batch, context, phase, system_name, drives, fmt)
        return
    if system_name is not None or drives is not None:
        raise ValueError(f"--system and --drives need a storage architecture (e.g. instinfer_csd), "
                         f"not '{a.name}'")
    require_cascade(mapper, d, cascade)
    w = workload(model_name, batch, heads, head_dim)
    gpu_mapper = d.substrate == "gpu"
    if not gpu_mapper and (causal or kv_heads is not None):
        raise ValueError(f"--causal and --kv-heads apply to the GPU mappers "
                         f"({', '.join(GPU_DESIGNS)}), not to '{mapper}'")
    if gpu_mapper:
        r = evaluate_gpu(mapper, problem(w, option_count("--seq", seq), causal,
                                         phase or "prefill", context, kv_heads), a, accounting)
    else:
        if phase is not None or context is not None:
            raise ValueError(f"--phase and --context apply to the GPU mappers and storage "
                             f"presets, not to '{mapper}' on '{a.name}'")
        if seq is None:
            raise ValueError("give --seq, the sequence length (e.g. 64K)")
        r = run_design(d, w, option_count("--seq", seq), a, accounting)
    r = {"mapper": mapper, "model": w.name, "batch_x_heads": w.batch * w.heads} | r
    if fmt == "json":
        typer.echo(json.dumps(r, indent=2))
        return
    print_report(r)


def workload(name: str | None, batch: int | None, heads: int | None,
             head_dim: int | None) -> Workload:
    """A model by name, or one from explicit --batch, --heads and --head-dim."""
    explicit = (batch, heads, head_dim)
    if name is not None:
        if any(v is not None for v in explicit):
            raise ValueError("give --model or --batch/--heads/--head-dim, not both")
        return model(name)
    if any(v is None for v in explicit):
        raise ValueError("give --model, or all of --batch, --heads and --head-dim")
    return Workload("custom", batch, heads, head_dim, heads * head_dim, 4 * heads * head_dim)


def print_report(r: dict) -> None:
    """The evaluation as tables."""
    mapped = r["instances"] != r["batch_x_heads"]  # stream-K: one instance per SM's share
    out.print(f"{r['mapper']} mapping of {r['cascade']} on {r['arch']}: {r['model']} "
              f"({r['batch_x_heads']} heads x batch"
              + (f", mapped as {r['instances']} instances" if mapped else "")
              + f"), shapes {r['shapes']}")
    t = Table(title="result")
    t.add_column("")
    t.add_column("value", justify="right")
    for k in ("latency_s", "ideal_s", "compute_s", "transfer_s"):
        t.add_row(k, f"{r[k]:.6g} s")
    if "tflops" in r:
        t.add_row("throughput", f"{r['tflops']:.4g} TFLOP/s")
        t.add_row("tiles, occupancy", f"{r['tiles']}, {r['occupancy']} CTA(s) per SM")
        t.add_row("HBM held at once", f"{r['hbm_live_bytes'] / 1e9:.6g} GB")
    t.add_row("energy", f"{r['energy_pj'] / 1e12:.6g} J ({r['accounting']} accounting)")
    t.add_row("DRAM traffic", f"{r['traffic_bytes'] / 1e9:.6g} GB")
    for u, v in r["utilisation"].items():
        t.add_row(f"utilisation {u}", f"{v:.3f}")
    out.print(t)
    if "search" in r:
        s = r["search"]
        out.print(f"search: {s['mappings_scored']:,} mappings scored ({s['mappings_valid']:,} fit) "
                  f"over {s['structures']} structures in {s['seconds']:.3g} s"
                  + (" (interrupted)" if s["interrupted"] else ""))
    e = Table(title="per Einsum")
    for col in ("Einsum", "unit", "PEs", "compute_s", "ops"):
        e.add_column(col)
    for row in r["einsums"]:
        ops = ", ".join(f"{op} {n:.3g}" for op, n in row["ops"].items())
        e.add_row(row["einsum"], row["unit"], f"{row['pes_used']:.0f}", f"{row['compute_s']:.4g}",
                  ops)
    out.print(e)
    out.print("assumptions: " + "; ".join(r["assumptions"]))
