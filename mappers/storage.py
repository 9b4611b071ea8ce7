"""Mappings of one LLM decode step on a host GPU with host DRAM, SSDs and computational storage.

One decoder layer is a cascade (projections, 3-pass softmax attention over the KV cache, output
projection, FFN); the step is that cascade with one instance per layer. A system is a Mapping of
it, scored by the shared estimator; nothing here computes a latency:
- `gpu`: everything on the GPU, the KV cache in its memory;
- `deepspeed`: DeepSpeed ZeRO-Inference's KV offload: the KV cache in host DRAM in FP32 (or,
  when it does not fit there, swapped by the OS to the SSD), attention on the host CPU; q crosses PCIe down and
  the attention output back (DeepSpeedExamples zero_inference/model-support.md);
- `flexgen`: the KV cache in files on the SSD, streamed to the GPU through the host's file path;
- `instinfer`: attention on the drive's engine next to its flash; only q, the new k and v and
  the attention output cross PCIe (Pan et al., arXiv 2409.04992);
- `instinfer_sparse`: the same with SparF (1/8 of the tokens kept; half the flash pages read).
Where a tensor lives is `Mapping.home`; the PCIe traffic follows from it (mappers.plain).
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass

from einsum_cascades import Cascade, parse

from .mapping import (EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError, Stage,
                      divisors, working_einsums)

#: flash page of the KV layout (InstInfer, shared/reference/storage.md): 16 tokens x 128
#: channels of one head, FP16 = 4 KB
PAGE_TOKENS = 16
PAGE_CHANNELS = 128
#: SparF keeps 1/8 of the tokens (storage.md; InstAttention, HPCA 2025, Sec. V-B: compression
#: ratio 1/8)
SPARSE_FRACTION = 8
#: ... but flash is read by whole pages of 16 tokens: the first, page-level step of SparF's
#: dual-step loading "maintains about half sparsity" (InstAttention Sec. IV-C), so half the
#: pages are read from flash and the NFC filters pass the kept tokens on (the engine is charged
#: for what is read, and the approximate-score pass over r channels is left out: assumptions)
SPARSE_PAGE_FRACTION = 2

#: bytes of one linear layer's output block (features x batch, FP16) held on chip at a time:
#: the blocks of every layer fit the GPU's L2 together (an assumption, 64 KB as one SM's
#: share of shared memory)
OUTPUT_TILE = 64 * 1024
#: the largest batch block a linear layer holds on chip (OUTPUT_TILE / 2 B / 64 features)
MAX_BATCH_BLOCK = OUTPUT_TILE // 2 // 64

LINEAR_UNIT = "tensor_core"
ATTENTION = ("QK", "GM", "SN", "SD", "A", "AV")
_LINEAR = {"Q": ("h", "e"), "KN": ("h", "e"), "VN": ("h", "f"), "O": ("o",), "F1": ("n",),
           "G": ("n",), "Y": ("y",)}


@lru_cache(maxsize=2)  # gated or not: one parsed cascade each, shared by every step
def layer_cascade(gated: bool) -> Cascade:
    """One decoder layer at decode (one new token per sequence b): Q/K/V projections, attention
    of the new query over the cached keys KC and values VC (3-pass softmax), output projection
    and a 2-matrix FFN (3 with a gate, as in Llama's SwiGLU). Attention sees the heads in
    groups (h1 groups of H0, one per drive; the last group padded when H0 does not divide the
    heads). Norms, residuals and the activation are elementwise over b x hidden, left out."""
    text = f"""@input X[d,b], WQ[d,h,e], WK[d,h,e], WV[d,h,f], KC[h1,h0,e,m,b], VC[h1,h0,f,m,b], WO[h1,h0,f,o], W1[o,n], W2[n,y]{', WG[o,n]' if gated else ''}
Q[h,e,b]  = X[d,b] * WQ[d,h,e]
KN[h,e,b] = X[d,b] * WK[d,h,e]
VN[h,f,b] = X[d,b] * WV[d,h,f]
BQ[h1,h0,e,b] = Q[h1*H0+h0,e,b]
QK[h1,h0,m,b] = BQ[h1,h0,e,b] * KC[h1,h0,e,m,b]
GM[h1,h0,b]   = max(QK[h1,h0,m,b])
SN[h1,h0,m,b] = exp(QK[h1,h0,m,b] - GM[h1,h0,b])
SD[h1,h0,b]   = SN[h1,h0,m,b]
A[h1,h0,m,b]  = SN[h1,h0,m,b] / SD[h1,h0,b]
AV[h1,h0,f,b] = A[h1,h0,m,b] * VC[h1,h0,f,m,b]
O[o,b]    = AV[h1,h0,f,b] * WO[h1,h0,f,o]
F1[n,b]   = O[o,b] * W1[o,n]
{'G[n,b]    = O[o,b] * WG[o,n]' if gated else ''}
Y[y,b]    = F1[n,b] * W2[n,y]
"""
    return parse(text, "<decode layer>", "decode_layer_gated" if gated else "decode_layer")


@dataclass(frozen=True)
class DecodeShape:
    """A decode step: model dimensions, batch, the tokens of KV each query reads and the heads
    per group (per drive when attention runs in the drives)."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    gated: bool
    batch: int
    kv_tokens: int  # tokens of K and V read per query (after sparsity and page rounding)
    group: int = 0   # heads per group (0: all heads in one group)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def groups(self) -> int:
        return math.ceil(self.heads / (self.group or self.heads))

    def shapes(self) -> dict[str, int]:
        e = self.head_dim
        return {"b": self.batch, "d": self.hidden, "h": self.heads, "h0": self.group or self.heads,
                "h1": self.groups, "e": e, "f": e,
                "m": self.kv_tokens, "o": self.hidden, "n": self.ffn, "y": self.hidden}


def kv_tokens_read(context: int, sparse: bool, paged: bool) -> int:
    """Tokens of KV read per query: from flash, whole pages of 16 tokens (a partial page reads
    whole), half of them when sparse (SparF's page-level step); from memory, the context or
    1/8 of it when sparse."""
    if not paged:
        return math.ceil(context / SPARSE_FRACTION) if sparse else context
    pages = math.ceil(context / PAGE_TOKENS)
    return (math.ceil(pages / SPARSE_PAGE_FRACTION) if sparse else pages) * PAGE_TOKENS


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in divisors(n) if d <= max(at_most, 1))


def _levels(path: tuple[str, ...], root: list[Loop], spread: list[Loop],
            last: list[Loop]) -> tuple[Level, ...]:
    """Loops at the path's root, at the level below it (spread over instances) and at its last
    level (one Level when those coincide)."""
    if len(path) == 1:
        return (Level(path[0], tuple(root + spread + last)),)
    if len(path) == 2:
        return (Level(path[0], tuple(root)), Level(path[1], tuple(spread + last)))
    return (Level(path[0], tuple(root)), Level(path[1], tuple(spread)),
            Level(path[-1], tuple(last)))


def attention_nest(space: tuple[str, ...], s: DecodeShape, path: tuple[str, ...],
                   lanes: int, spread_tokens: bool = False) -> tuple[Level, ...]:
    """Head groups across the instances (drives) and batch, heads and KV pages in time from
    the root; a group's heads spread below it; a page of tokens in time and the head's
    channels across the PEs at the last level. With `spread_tokens` (an unfused attention),
    the softmax Einsums, which have no channel rank, spread tokens across the PEs instead."""
    e, shape = s.head_dim, s.shapes()
    h_in = _largest_divisor(shape["h0"], lanes // s.groups // e)
    m_in = math.gcd(s.kv_tokens, PAGE_TOKENS)
    spread = spread_tokens and not {"e", "f"} & set(space)
    if spread:
        m_in = math.gcd(s.kv_tokens, max(1, lanes // h_in))
    root = [Loop("h1", s.groups, True), Loop("b", s.batch), Loop("h0", shape["h0"] // h_in),
            Loop("m", s.kv_tokens // m_in)]
    last = [Loop(r, shape[r], True) for r in ("e", "f")] + [Loop("m", m_in, spread)]

    def used(loops: list[Loop]) -> list[Loop]:
        return [lp for lp in loops if lp.rank in space and lp.factor > 1]

    return _levels(path, used(root), used([Loop("h0", h_in, True)]), used(last))


def linear_nest(key: str, space: tuple[str, ...], s: DecodeShape, path: tuple[str, ...],
                lanes: int) -> tuple[Level, ...]:
    """Weight-streaming GEMM: output features in blocks and the reduction in time from the root
    (each weight read once), the block's features across the PEs below it and the batch across
    them at the last level; a block's outputs (features x batch) stay within OUTPUT_TILE. A
    batch above MAX_BATCH_BLOCK runs in blocks from the root, each reading the weights again."""
    shape = s.shapes()
    b_in = _largest_divisor(s.batch, MAX_BATCH_BLOCK)
    b_sp = _largest_divisor(b_in, lanes)
    budget = max(1, min(lanes // b_sp, OUTPUT_TILE // (b_in * 2)))
    outer, spread = [], []
    for r in reversed(_LINEAR[key]):
        inner = _largest_divisor(shape[r], budget)
        budget //= inner
        spread.insert(0, Loop(r, inner, True))
        if shape[r] // inner > 1:
            outer.insert(0, Loop(r, shape[r] // inner))
    reduce = [Loop(r, shape[r]) for r in space if r not in _LINEAR[key] and r != "b"]
    blocks = [Loop("b", s.batch // b_in)] if s.batch > b_in else []
    last = [Loop("b", b_sp, True)] + ([Loop("b", b_in // b_sp)] if b_in > b_sp else [])
    return _levels(path, blocks + outer + reduce, spread, last)


@dataclass(frozen=True)
class System:
    """Where a decode step's attention runs and where its KV cache lives."""

    name: str
    attention_on: str        # "gpu", "cpu" (the host's) or "drive"
    kv_home: str             # memory holding KC, VC and the new KN, VN
    sparse: bool = False
    overlap: str = ""        # what overlaps, stated with every result
    #: bytes per element of the cached K and V, the query and the scores where attention runs
    #: (ZeRO-Inference's CPU attention keeps its cache and computes in FP32)
    attention_word_bytes: int = 2


#: attention unit of each place attention runs (exponentials on the GPU's SFUs)
ATTENTION_UNIT = {"drive": "engine", "cpu": "cpu"}
#: tensors of attention held at `System.attention_word_bytes`
WIDE = ("BQ", "KC", "VC", "QK", "GM", "SN", "SD", "A")


def decode_step(sys: System, s: DecodeShape, arch, weights_home: str | None = None) -> Mapping:
    """The decode step of `s` as `sys` maps it on `arch` (one cascade instance per layer);
    `weights_home` puts the weights off the GPU (streamed to it every step)."""
    c = layer_cascade(s.gated)
    if sys.attention_word_bytes != 2:
        c = c.with_word_bytes({n: sys.attention_word_bytes for n in WIDE})
    ems = []
    for e in working_einsums(c):
        if e.key in ATTENTION:
            # on the GPU: exponentials on the SFUs, the rest on the CUDA cores
            unit = ATTENTION_UNIT.get(sys.attention_on) or ("sfu" if e.key == "SN"
                                                             else "cuda_core")
        else:
            unit = LINEAR_UNIT
        if unit not in arch.computes:
            raise MappingError(f"system '{sys.name}' needs unit '{unit}', which '{arch.name}' "
                               f"lacks")
        path = arch.memory_path(unit)
        lanes = arch.computes[unit].lanes
        levels = attention_nest(e.space, s, path, lanes, sys.attention_on != "drive") \
            if e.key in ATTENTION else \
            linear_nest(e.key, e.space, s, path, lanes)
        bypass = {}
        if unit == "engine" and len(path) > 1:
            # pages stream from the flash channels into the engine (storage.md: attention
            # "next to the flash channels"), past the drive's DRAM
            bypass = {t: path[1:] for t in ("KC", "VC") if t in e.inputs}
        ems.append(EinsumMapping(e.key, unit, levels, bypass))
    home = {t: sys.kv_home for t in ("KC", "VC", "KN", "VN")}
    if weights_home is not None:
        home |= {t: weights_home for t in c.inputs if t.startswith("W")}
    fusion: tuple[FusionGroup, ...] = ()
    stages: tuple[Stage, ...] = ()
    keys = tuple(em.einsum for em in ems)
    if sys.attention_on in ATTENTION_UNIT:
        # q goes down to where attention runs and its output comes back to the GPU
        gpu_root = arch.memory_path(LINEAR_UNIT)[0]
        home |= {"Q": gpu_root, "AV": gpu_root}
    if sys.attention_on == "drive":
        # the engine streams pages through GeMV and softmax: scores stay in its DRAM buffer
        fusion = (FusionGroup(ATTENTION, {t: arch.memory_path("engine")[1]
                                          for t in ("QK", "GM", "SN", "SD", "A")}),)
        first = keys[:keys.index("QK")]
        stages = tuple(Stage((k,)) for k in first) + (Stage(ATTENTION, "pipelined", 0),) + \
            tuple(Stage((k,)) for k in keys[keys.index("AV") + 1:])
    elif sys.overlap:
        # the whole layer as one pipelined stage, one epoch per layer: the KV cache of the next
        # layer streams in while this layer computes
        stages = (Stage(keys, "pipelined", 1),)
    return Mapping(c, s.shapes(), tuple(ems), fusion, stages, s.layers, home)
