"""LLM decode steps on storage systems: each system's mapping scored, capacity checked, split.

A system (mappers.storage) maps one decode step; this module picks the architecture variant
(drives), checks that weights and KV cache fit where they live, scores the mapping with the
estimator and reports throughput with its split and assumptions. Nothing here is a per-system
formula: latency comes from the estimator, bytes from the mapping's homes and loop nests.
"""

from __future__ import annotations

import math
from dataclasses import replace

from mappers.mapping import CapacityError, MappingError
from mappers.storage import (ATTENTION, PAGE_CHANNELS, PAGE_TOKENS, DecodeShape, System,
                             decode_step, kv_tokens_read)

from .evaluate import measure
from .llm import LLM

SYSTEMS = {s.name: s for s in (
    System("gpu", "gpu", "gpu_hbm"),
    System("deepspeed", "cpu", "host_dram", attention_word_bytes=4),
    System("flexgen", "gpu", "ssd", overlap=(
        "the KV cache of the next layer streams from the SSD while this layer computes")),
    System("instinfer", "drive", "nand"),
    System("instinfer_sparse", "drive", "nand", sparse=True),
)}

DESCRIPTIONS = {
    "gpu": "KV cache in GPU memory (out of memory where weights + KV exceed it)",
    "deepspeed": "ZeRO-Inference: FP32 KV cache in host DRAM (swapped to the SSD when full), "
                 "attention on the host CPU; q down and the output back over PCIe x16",
    "flexgen": "KV cache in files on the conventional SSD, read through the host's file path "
               "and streamed over PCIe to the GPU",
    "instinfer": "attention in the drive next to the flash; q, k, v and the output cross PCIe",
    "instinfer_sparse": "InstInfer with SparF: 1/8 of the tokens kept, half the flash pages read",
}

ASSUMPTIONS = (
    "decode step = one instance of the layer cascade per layer; norms, residuals, activation "
    "and the LM head are left out",
    "weights live in GPU memory, or all in host DRAM (streamed over PCIe every step) when they "
    "do not fit; linear layers run on the tensor cores, each weight read once per step (per "
    "block of 512 sequences), the activations once per 64 KB block of outputs",
    "KV in flash is read in whole 4 KB pages of 16 tokens x 128 channels of one head",
    "KV crossing PCIe is staged in host DRAM (read and written there); InstInfer's P2P "
    "transfers of q, k, v and the output are counted the same way",
    "drives split the heads: each holds ceil(H/N) whole heads, the busiest sets the time; each "
    "drive has its own flash channels and PCIe x4, the host's PCIe x16 is shared",
    "instinfer: GPU layers and drive attention take turns within a layer (data dependence); "
    "the engine overlaps its flash reads with its compute",
    "instinfer_sparse: SparF's page-level step reads half of the K and V pages from flash "
    "(InstAttention Sec. IV-C, 'about half sparsity'); the approximate-score pass over r "
    "channels is left out; K also stored channel-major, so K takes twice the flash space",
    "flexgen: its KV files are read through one host file path at 2.0 GiB/s (CHEOPS'25 "
    "measurement of FlexGen's KV offload), shared by all SSDs (instinfer_csd.yaml, page_cache)",
    "deepspeed: ZeRO-Inference's KV offload (DeepSpeedExamples zero_inference/model-support.md "
    "and its transformers fork): the cache is an FP32 host buffer, attention runs on the CPU "
    "in FP32 at FlexGen's fitted CPU-attention rate (instinfer_csd.yaml, cpu), serially with "
    "the GPU's layers; the cache lives in one place: host DRAM if it fits whole, else the OS "
    "swaps it to the SSD (InstAttention Sec. VI-C: 'kernel swapping'), read back by page "
    "faults at Linux's measured 414 MB/s sequential swap-in (instinfer_csd.yaml, swap) for "
    "the whole decode (the placement at the longest context holds for every step)",
    "throughput = batch / latency of one step at the mean context (prompt + generated / 2) in "
    "reproductions; capacity is checked at the longest context",
)


#: components the systems place work and data on (the names of archsim/presets/instinfer_csd.yaml)
COMPONENTS = ("gpu_hbm", "host_dram", "ssd", "swap", "nand", "engine", "cpu", "tensor_core",
              "cuda_core", "sfu")


def system(name: str) -> System:
    """A system by name; the error lists the known ones."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system '{name}' (systems: {', '.join(SYSTEMS)})")
    return SYSTEMS[name]


def with_drives(arch, root: str, drives: int):
    """`arch` with the tree under memory `root` (its memories, units and the links touching
    it) replicated `drives` times, by counts."""
    if drives < 1:
        raise ValueError(f"--drives must be at least 1, got {drives}")
    if drives == 1:
        return arch
    tree = {n for n in list(arch.memories) + list(arch.computes)
            if arch.parent_chain(n)[-1] == root}
    sets = [f"{n}.count={(arch.memories.get(n) or arch.computes[n]).count * drives}"
            for n in sorted(tree)]
    sets += [f"{n}.count={lk.count * drives}" for n, lk in sorted(arch.links.items())
             if set(lk.between) & tree]
    return arch.with_overrides(sets)


def _capacity(arch, memory: str) -> float:
    m = arch.memories[memory]
    return m.capacity_bytes * m.count


def kv_cache_bytes(model: LLM, batch: int, context: int, paged: bool, sparse: bool,
                   word_bytes: int | None = None) -> float:
    """Bytes of the KV cache at `context` tokens (elements of `word_bytes`, the model's by
    default): whole pages in flash; sparse keeps K twice."""
    tokens = math.ceil(context / PAGE_TOKENS) * PAGE_TOKENS if paged else context
    copies = 1.5 if sparse else 1.0
    width = (word_bytes or model.word_bytes) / model.word_bytes
    return model.kv_bytes_per_token() * batch * tokens * copies * width


def placement(sys: System, model: LLM, batch: int, context: int, arch,
              kv_scale: float = 1.0) -> tuple[str, str, str]:
    """(memory holding the KV cache, memory holding the weights, '' or why it does not fit).
    Weights stay in GPU memory when they fit there, else in host DRAM; `kv_scale` sizes the
    KV cache to the heads stored (padded to whole groups per drive: the busiest drive's share
    times the drives)."""
    gb = 1e9
    weights = model.weight_bytes()
    gpu, host = "gpu_hbm", "host_dram"
    kv_home = sys.kv_home
    paged = arch.memories[kv_home].cls == "nand"
    kv = kv_cache_bytes(model, batch, context, paged, sys.sparse,
                        sys.attention_word_bytes) * kv_scale
    if kv_home == gpu:
        if weights + kv > _capacity(arch, gpu):
            return kv_home, gpu, (f"weights {weights / gb:.1f} GB + KV cache {kv / gb:.1f} GB "
                                  f"exceed {gpu} {_capacity(arch, gpu) / gb:.0f} GB")
        return kv_home, gpu, ""
    w_home = gpu if weights <= _capacity(arch, gpu) else host
    host_free = _capacity(arch, host) - (weights if w_home == host else 0.0)
    if host_free < 0:
        return kv_home, w_home, (f"weights {weights / gb:.1f} GB exceed {gpu} and {host} "
                                 f"{_capacity(arch, host) / gb:.0f} GB")
    if sys.name == "deepspeed" and kv > host_free:
        # spills: ZeRO-Inference's KV offload has no NVMe target; the OS swaps its buffer out
        kv_home = "swap"
        kv = kv_cache_bytes(model, batch, context, True, False, sys.attention_word_bytes)
    free = host_free if kv_home == host else _capacity(arch, kv_home)
    if kv > free:
        return kv_home, w_home, (f"KV cache {kv / gb:.1f} GB exceeds {kv_home} "
                                 f"{free / gb:.0f} GB free")
    return kv_home, w_home, ""


def evaluate_step(name: str, model: LLM, batch: int, context: int, drives: int, arch,
                  capacity_context: int | None = None) -> dict:
    """One decode step of `model` at `batch` x `context` cached tokens on system `name`:
    latency, tokens/s, split, capacity verdict and assumptions (a JSON-ready row)."""
    sys = system(name)
    missing = [c for c in COMPONENTS if c not in arch.memories and c not in arch.computes]
    if missing:
        raise ValueError(f"'{arch.name}' lacks {', '.join(missing)}: the storage systems run on "
                         f"specs shaped like instinfer_csd")
    if batch < 1 or context < 1:
        raise ValueError(f"batch and context must be positive, got {batch} and {context}")
    if drives < 1:
        raise ValueError(f"--drives must be at least 1, got {drives}")
    group, used = model.heads, drives
    if sys.attention_on == "drive":
        # each drive holds whole heads: ceil(H/N) of them, so ceil(H / that) drives get work
        # and the busiest sets the time (its group padded, e.g. 40 heads on 3 drives: 14 each)
        group = math.ceil(model.heads / drives)
        used = math.ceil(model.heads / group)
    drive_root = "nand" if sys.attention_on == "drive" else "ssd"
    home, w_home, why = placement(sys, model, batch, capacity_context or context,
                                  with_drives(arch, drive_root, used),
                                  group * used / model.heads)
    sys = replace(sys, kv_home=home)
    if home in ("nand", "ssd"):
        arch = with_drives(arch, home, used)
    row = {"system": name, "model": model.name, "batch": batch, "drives": drives,
           "drives_used": used, "heads_per_drive": group if sys.attention_on == "drive" else None,
           "context": context, "kv_home": home, "weights_home": w_home, "oom": bool(why),
           "oom_reason": why, "tokens_per_s": 0.0, "latency_s": None}
    if why:
        return row | {"assumptions": list(ASSUMPTIONS)}
    paged = arch.memories[home].cls == "nand"
    if paged and model.head_dim % PAGE_CHANNELS:
        raise MappingError(f"{model.name}'s head dimension {model.head_dim} does not fill flash "
                           f"pages of {PAGE_CHANNELS} channels")
    shape = DecodeShape(model.layers, model.hidden, model.heads, model.ffn, model.gated, batch,
                        kv_tokens_read(context, sys.sparse, paged), group)
    m = decode_step(sys, shape, arch, None if w_home == "gpu_hbm" else w_home)
    try:
        arrays, r, e = measure(m, arch)
    except CapacityError:
        return row | {"oom": True, "oom_reason": "the step's tiles exceed a memory's capacity",
                      "assumptions": list(ASSUMPTIONS)}
    latency = float(r.latency_s[0])
    stages = m.stages_or_default()
    split = {"non_attention_s": 0.0, "attention_s": 0.0, "overlapped_s": 0.0}
    for k, st in enumerate(stages):
        att = [key in ATTENTION for key in st.einsums]
        part = "attention_s" if all(att) else "non_attention_s" if not any(att) else "overlapped_s"
        split[part] += float(r.stage_s[0, k])
    busy = {lvl: float((r.read_bytes[0, j] + r.write_bytes[0, j]) / arrays.level_bandwidth[j])
            for j, lvl in enumerate(arrays.levels)
            if r.read_bytes[0, j] + r.write_bytes[0, j] > 0 and math.isfinite(
                arrays.level_bandwidth[j])}
    busy |= {lk: float(r.link_bytes[0, k] / arrays.link_bandwidth[k])
             for k, lk in enumerate(arrays.links) if r.link_bytes[0, k] > 0}
    busy |= {u: float(r.busy_s[0, k]) for k, u in enumerate(arrays.units) if r.busy_s[0, k] > 0}
    return row | {
        "kv_tokens_read": shape.kv_tokens, "latency_s": latency,
        "tokens_per_s": batch / latency, "ideal_s": float(r.ideal_s[0]),
        "compute_s": float(r.compute_s[0]), "transfer_s": float(r.transfer_s[0]),
        "split_s": split, "busy_s": busy,
        "energy_pj": float(e["total"][0]),
        "energy_breakdown_pj": {k: float(v[0].sum()) for k, v in e.items() if k != "total"},
        "bytes": {x: float(r.read_bytes[0, j] + r.write_bytes[0, j])
                  for j, x in enumerate(arrays.levels) if r.read_bytes[0, j] + r.write_bytes[0, j]}
        | {x: float(r.link_bytes[0, k]) for k, x in enumerate(arrays.links) if r.link_bytes[0, k]},
        "overlap": sys.overlap or "none across Einsums (each overlaps its own transfers)",
        "assumptions": list(r.assumptions) + list(ASSUMPTIONS),
    }

