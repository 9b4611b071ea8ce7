"""InstInfer (arXiv 2409.04992) reproduction: every storage system over batch and drives, and the
paper's published points (studies/data/instinfer/claims.csv) beside the model's."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from archsim.spec import load_arch

from .llm import llm
from .storage import SYSTEMS, evaluate_step, kv_cache_bytes

DATA = Path(__file__).with_name("data") / "instinfer"
PROMPT, GENERATED = 1024, 1024           # storage.md: 1024 input + 1024 output tokens
#: the paper's workloads that differ (InstAttention Sec. VI-A): Llama-2 2048 + 2048 tokens
WORKLOAD = {"llama-2-13b": (2048, 2048)}
#: "To accommodate all the parameters of OPT-30B, we use two A6000 GPUs" (Sec. VI-A): modelled as
#: one GPU with both memories (layers split between the two, run in turn: an assumption)
GPU_MEMORY = {"opt-30b": "96GB"}
BATCHES = tuple(2 ** k for k in range(9))  # 1 .. 256
DRIVES = tuple(range(1, 21))
DRIVE_SYSTEMS = ("instinfer", "instinfer_sparse", "flexgen")
DRIVES_BATCH = 256
#: ZeRO-Inference's own benchmark points (DeepSpeedExamples zero_inference/README.md): model, batch
ZERO_INFERENCE = {"zero_inference_opt30b": ("opt-30b", 128), "zero_inference_opt66b": ("opt-66b", 40)}
ROW_KEYS = ("system", "model", "batch", "drives", "drives_used", "heads_per_drive", "context", "kv_home", "weights_home",
            "tokens_per_s", "latency_s", "oom", "oom_reason", "split_s", "busy_s")


def published() -> list[dict]:
    """The published points, as in claims.csv."""
    with open(DATA / "claims.csv", newline="") as f:
        return [r | {"published": float(r["published"])} for r in csv.DictReader(f)]


def sweep_points(models: list[str]) -> list[tuple[str, str, int, int]]:
    """(system, model, batch, drives): every system over BATCHES on one drive, and the drive
    systems over DRIVES at DRIVES_BATCH."""
    pts = [(s, m, b, 1) for m in models for s in SYSTEMS for b in BATCHES]
    pts += [(s, m, DRIVES_BATCH, n) for m in models for s in DRIVE_SYSTEMS for n in DRIVES
            if n > 1]
    return pts


def step(system: str, model: str, batch: int, drives: int = 1) -> dict:
    """One decode step of the paper's workload for `model` on its testbed: at the mean decode
    context (prompt + generated / 2), capacity checked at the longest."""
    prompt, generated = WORKLOAD.get(model, (PROMPT, GENERATED))
    arch = load_arch("instinfer_csd")
    if model in GPU_MEMORY:
        arch = arch.with_overrides([f"gpu_hbm.capacity={GPU_MEMORY[model]}"])
    return evaluate_step(system, llm(model), batch, prompt + generated // 2, drives, arch,
                         prompt + generated)


def rows(models: list[str], progress: Callable[[], None] | None = None) -> list[dict]:
    """Throughput of each point of the sweep (`step`)."""
    out = []
    for s, m, b, n in sweep_points(models):
        r = step(s, m, b, n)
        out.append({k: r.get(k) for k in ROW_KEYS})
        if progress:
            progress()
    return out


def _best(rs: list[dict], system: str, model: str) -> float:
    return max((r["tokens_per_s"] for r in rs if r["system"] == system and r["model"] == model
                and r["drives"] == 1 and not r["oom"]), default=0.0)


def _at(rs: list[dict], system: str, model: str, batch: int) -> dict:
    return next(r for r in rs if r["system"] == system and r["model"] == model
                and r["batch"] == batch and r["drives"] == 1)


def modelled(claim: str, rs: list[dict], model: str = "OPT-13B") -> tuple[float, str]:
    """The model's value of a published claim, and how it was formed."""
    if claim == "sparse_over_flexgen":
        ratios = [(_at(rs, "instinfer_sparse", model, b)["tokens_per_s"]
                   / _at(rs, "flexgen", model, b)["tokens_per_s"], b) for b in BATCHES
                  if not _at(rs, "flexgen", model, b)["oom"]
                  and not _at(rs, "instinfer_sparse", model, b)["oom"]]
        v, b = max(ratios)
        return v, f"at batch {b}"
    if claim == "dense_over_deepspeed":
        return (_best(rs, "instinfer", model) / _best(rs, "deepspeed", model),
                "best over batch of each")
    if claim == "deepspeed_spill_collapse":
        ds = [_at(rs, "deepspeed", model, b) for b in BATCHES]
        last = max(k for k, r in enumerate(ds) if r["kv_home"] == "host_dram" and not r["oom"])
        after = ds[last + 1]
        return (ds[last]["tokens_per_s"] / after["tokens_per_s"],
                f"batch {ds[last]['batch']} in host DRAM vs {after['batch']} swapped to the SSD")
    if claim in RATIOS:
        (num, nb, nd), (den, db, dd), m = RATIOS[claim]
        a, b = step(num, m, nb, nd), step(den, m, db, dd)
        return (a["tokens_per_s"] / b["tokens_per_s"],
                f"{m}: {num} batch {nb} on {nd} drive(s) / {den} batch {db} on {dd}")
    if claim == "kv_access_share_bs64":
        r = step("instinfer", "opt-13b", 64)
        return r["split_s"]["attention_s"] / r["latency_s"], "attention's share of the step"
    if claim == "pcie_traffic_reduction":
        arch = load_arch("instinfer_csd")
        f, i = (evaluate_step(s, llm("opt-13b"), 64, 2048, 1, arch)["bytes"]
                for s in ("flexgen", "instinfer"))
        return f["ssd_pcie_x4"] / i["pcie_x4"], "batch 64, 2048 tokens"
    if claim in ZERO_INFERENCE:
        # ZeRO-Inference's own benchmark host: 252 GB of host DRAM; 512 + 32 tokens, the step
        # at the mean context, capacity at the longest
        name, batch = ZERO_INFERENCE[claim]
        arch = load_arch("instinfer_csd").with_overrides(["host_dram.capacity=252GB"])
        r = evaluate_step("deepspeed", llm(name), batch, 512 + 16, 1, arch, 512 + 32)
        return r["tokens_per_s"], (f"batch {batch}, weights in {r['weights_home']}, KV in "
                                   f"{r['kv_home']}")
    if claim == "kv_cache_gb":
        return kv_cache_bytes(llm("opt-13b"), 16, 2048, False, False) / 1e9, "batch 16, 2048 tokens"
    raise ValueError(f"unknown claim '{claim}'")


#: the paper's throughput ratios (InstAttention Sec. VI-C, E), as (numerator, denominator, model),
#: each side (system, batch, drives)
RATIOS = {
    "dense_over_flexgen_bs64": (("instinfer", 64, 1), ("flexgen", 64, 1), "opt-13b"),
    "sparse_over_dense_bs256": (("instinfer_sparse", 256, 1), ("instinfer", 256, 1), "opt-13b"),
    "two_drive_dense_over_flexgen": (("instinfer", 256, 2), ("flexgen", 32, 2), "opt-13b"),
    "drives_20_over_1_dense": (("instinfer", 256, 20), ("instinfer", 256, 1), "opt-13b"),
    "drives_20_over_1_sparse": (("instinfer_sparse", 256, 20), ("instinfer_sparse", 256, 1),
                                "opt-13b"),
    "opt30b_dense_over_flexgen": (("instinfer", 128, 1), ("flexgen", 8, 1), "opt-30b"),
    "opt30b_sparse_over_flexgen": (("instinfer_sparse", 128, 1), ("flexgen", 8, 1), "opt-30b"),
    "llama2_dense_over_flexgen": (("instinfer", 128, 1), ("flexgen", 16, 1), "llama-2-13b"),
    "llama2_sparse_over_flexgen": (("instinfer_sparse", 128, 1), ("flexgen", 16, 1),
                                   "llama-2-13b"),
}


def claims(rs: list[dict]) -> list[dict]:
    """Each published point beside the model's value and their ratio."""
    out = []
    for p in published():
        v, how = modelled(p["claim"], rs)
        out.append({"claim": p["claim"], "published": p["published"], "modelled": v,
                    "ratio": v / p["published"], "unit": p["unit"], "how": how,
                    "source": p["source"]})
    return out


def figure(rs: list[dict], cl: list[dict]):
    """Plotly figure: tokens/s over batch and over drives; claims modelled vs published."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        "tokens/s vs batch (1 drive)", f"tokens/s vs drives (batch {DRIVES_BATCH})",
        "published points: modelled / published"))
    for s in SYSTEMS:
        pts = [r for r in rs if r["system"] == s and r["drives"] == 1 and not r["oom"]]
        fig.add_scatter(x=[r["batch"] for r in pts], y=[r["tokens_per_s"] for r in pts],
                        name=s, row=1, col=1)
    for s in DRIVE_SYSTEMS:
        pts = sorted((r for r in rs if r["system"] == s and r["batch"] == DRIVES_BATCH
                      and not r["oom"]), key=lambda r: r["drives"])
        fig.add_scatter(x=[r["drives"] for r in pts], y=[r["tokens_per_s"] for r in pts],
                        name=f"{s} (drives)", row=1, col=2)
    fig.add_bar(x=[c["claim"] for c in cl], y=[c["modelled"] for c in cl], name="attnsim",
                row=1, col=3)
    fig.add_bar(x=[c["claim"] for c in cl], y=[c["published"] for c in cl], name="published",
                row=1, col=3)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_layout(title="InstInfer (arXiv 2409.04992) reproduction, OPT-13B, 1024 + 1024 "
                      "tokens", barmode="group")
    return fig
