"""GPU designs for `attnsim evaluate`: FA1 (forward, backward), FA2, FA3, standard (forward,
backward), Flash-Decoding and LeanAttention.

Each builds a general Mapping (mappers.gpu) that the shared estimator scores; this module adds
what the GPU results carry besides the common ones: the throughput in TFLOP/s by the
FlashAttention count (4 P M D H B, halved when causal), HBM bytes, the chosen tiles, occupancy
and CTA grid, and the assumptions the GPU mappings add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mappers import gpu
from mappers.gpu import Attention
from mappers.plain import root_live_bytes

from .evaluate import evaluate, require_components
from .workloads import Workload


@dataclass(frozen=True)
class GpuDesign:
    """A GPU mapper (described in studies.evaluate.DESIGNS): its phase and how it picks its
    mapping."""

    name: str
    phase: str
    choose: Callable[[Attention, object], gpu.Choice]


GPU_DESIGNS = {d.name: d for d in (
    GpuDesign("fa2", "prefill", lambda a, arch: gpu.flash(a, arch, "fa2")),
    GpuDesign("fa3", "prefill", lambda a, arch: gpu.flash(a, arch, "fa3")),
    GpuDesign("standard", "prefill", gpu.standard),
    GpuDesign("fa1", "prefill", lambda a, arch: gpu.fa1(a, arch, "forward")),
    GpuDesign("fa1_backward", "prefill", lambda a, arch: gpu.fa1(a, arch, "backward")),
    GpuDesign("standard_backward", "prefill", gpu.standard_backward),
    GpuDesign("standard_dropout", "prefill", lambda a, arch: gpu.standard_dropout(a, arch)),
    GpuDesign("standard_dropout_backward", "prefill",
              lambda a, arch: gpu.standard_dropout(a, arch, "backward")),
    GpuDesign("flash_decoding", "decode", gpu.flash_decoding),
    GpuDesign("lean", "decode", gpu.lean),
)}

#: what the GPU mappings assume, beside the estimator's ASSUMPTIONS
GPU_ASSUMPTIONS = (
    "a CTA is Br queries of one head; CTAs fill SMs x occupancy slots in waves (the last one "
    "partly idle); occupancy = min(shared memory, register file) / the CTA's footprint, at "
    "most the SM's resident-CTA limit of its compute capability",
    "concurrent CTAs of a head share each K/V tile fetched from HBM (L2 reuse); each SM reads "
    "its own copy from L2",
    "FA2's mma.sync runs at 1024 dense MACs/clk/SM on Hopper (the Ampere rate; assumption)",
    "causal: each query tile visits the (T + 1) / 2 key tiles on and below the diagonal, "
    "spread evenly over the CTAs",
    "queries padded to whole Br-row tiles, the padding rows computed (decode: a 64-row tile "
    "for each head's one query, FA2's split-KV kBlockM)",
    "no memory latency: a CTA streams at the aggregate bandwidths (decode with few CTAs is "
    "optimistic)",
    "HBM capacity: the tensors live in HBM at once (inputs and outputs, and each intermediate "
    "from the kernel that writes it to the last that reads it) must fit the GPU's memory; "
    "nothing else (workspace, the framework's allocator, other layers) is counted",
)


def problem(w: Workload, seq: int | None, causal: bool, phase: str, context: int | None,
            kv_heads: int | None = None) -> Attention:
    """The attention call of a workload in a phase: prefill (seq queries over seq keys) or
    decode (one query per head over a context of `context` keys)."""
    if phase not in ("prefill", "decode"):
        raise ValueError(f"--phase must be prefill or decode, got '{phase}'")
    if phase == "decode":
        if context is None:
            raise ValueError("--phase decode needs --context N (the keys in the KV cache)")
        if seq not in (None, 1):
            raise ValueError(f"decode takes one query per head; --seq {seq} does not apply")
        return Attention(w.batch, w.heads, w.head_dim, 1, context, kv_heads, causal)
    if context is not None:
        raise ValueError("--context is for --phase decode; prefill attends over --seq keys")
    if seq is None:
        raise ValueError("give --seq (the sequence length)")
    return Attention(w.batch, w.heads, w.head_dim, seq, None, kv_heads, causal)


def evaluate_gpu(name: str, a: Attention, arch, accounting: str = "complete") -> dict:
    """Score a GPU design on one attention call: the common result plus tflops, hbm_bytes,
    tiles, occupancy and the CTA grid."""
    if name not in GPU_DESIGNS:
        raise ValueError(f"unknown GPU mapper '{name}' (GPU mappers: {', '.join(GPU_DESIGNS)})")
    d = GPU_DESIGNS[name]
    if d.phase == "decode" and a.seq != 1:
        raise ValueError(f"'{name}' is a decode mapper: use --phase decode --context N")
    if arch.substrate != "gpu":
        raise ValueError(f"'{name}' maps onto a GPU, and '{arch.name}' is a {arch.substrate} "
                         f"architecture (GPU presets: a100, h100, a6000, b200)")
    require_components(name, arch)
    choice = d.choose(a, arch)
    m = choice.mapping
    r = evaluate(m, arch, accounting)
    hbm = r["traffic_bytes"]
    return r | {
        "tflops": a.flops / r["latency_s"] / 1e12, "flops": a.flops, "hbm_bytes": hbm,
        "hbm_live_bytes": root_live_bytes(m, arch.roots()[0])[0],
        "tiles": list(choice.tiles), "occupancy": choice.occupancy,
        "waves": [m.stage_rounds(st) for st in m.stages_or_default()],
        "problem": {"batch": a.batch, "heads": a.heads, "kv_heads": a.groups,
                    "head_dim": a.head_dim, "queries": a.seq, "keys": a.m, "causal": a.causal},
        "assumptions": r["assumptions"] + list(GPU_ASSUMPTIONS),
    }
