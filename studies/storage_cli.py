"""`attnsim evaluate` on a storage architecture: one system's LLM decode step, split and capacity."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from .llm import LLMS, llm
from .storage import DESCRIPTIONS, SYSTEMS, evaluate_step, system

out = Console(markup=False, highlight=False)


def evaluate_storage(a, model_name: str | None, batch: int | None, context: int | None,
                     phase: str | None, system_name: str | None, drives: int | None,
                     fmt: str) -> None:
    """Evaluate one decode step of an LLM on `a` (a storage preset) with a system."""
    if phase not in (None, "decode"):
        raise ValueError(f"storage systems model the decode phase only, got --phase {phase}")
    if model_name is None:
        raise ValueError(f"give --model ({', '.join(LLMS)})")
    if context is None:
        raise ValueError("give --context N: tokens in the KV cache at this decode step")
    name = system_name or "instinfer"
    system(name)
    row = evaluate_step(name, llm(model_name), batch or 1, context, drives or 1, a)
    if fmt == "json":
        typer.echo(json.dumps(row, indent=2))
        return
    print_row(row)


def _drives(r: dict) -> str:
    """The drives asked for, and those given heads where the heads run out first."""
    if r["drives_used"] == r["drives"]:
        return f"{r['drives']} drive(s)"
    return (f"{r['drives']} drives, {r['drives_used']} used ({r['heads_per_drive']} head(s) each; "
            f"a head is not split)")


def print_row(r: dict) -> None:
    """A decode step as tables: result, time per resource, assumptions."""
    out.print(f"{r['system']} ({DESCRIPTIONS[r['system']]}): {r['model']}, batch {r['batch']}, "
              f"{r['context']} cached tokens, {_drives(r)}; KV cache in {r['kv_home']}, "
              f"weights in {r['weights_home']}")
    if r["oom"]:
        out.print(f"out of memory: {r['oom_reason']}")
        return
    t = Table(title="decode step")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("latency per step", f"{r['latency_s']:.6g} s")
    t.add_row("throughput", f"{r['tokens_per_s']:.4g} tokens/s")
    for k in ("ideal_s", "compute_s", "transfer_s"):
        t.add_row(k, f"{r[k]:.6g} s")
    for k, v in r["split_s"].items():
        if v:
            t.add_row(k, f"{v:.6g} s")
    t.add_row("energy per step", f"{r['energy_pj'] / 1e12:.4g} J")
    t.add_row("KV tokens read per query", str(r["kv_tokens_read"]))
    out.print(t)
    b = Table(title="busy time per memory, link and unit (bytes / bandwidth; compute)")
    for col in ("resource", "busy_s", "bytes"):
        b.add_column(col)
    for k, v in r["busy_s"].items():
        b.add_row(k, f"{v:.6g}", f"{r['bytes'].get(k, 0.0) / 1e9:.4g} GB" if k in r["bytes"] else "")
    out.print(b)
    out.print("overlap: " + r["overlap"])
    out.print("assumptions: " + "; ".join(r["assumptions"]))


SYSTEM_HELP = f"Storage system (storage presets): {', '.join(SYSTEMS)}."
