"""GPU-tile mappings of attention: FlashAttention-1/-2/-3 style and standard (3-pass) attention,
forward and (FA1, standard) backward.

A GPU is HBM -> L2 -> per-SM shared memory -> registers -> tensor cores, special-function units
(exp) and CUDA cores, times the SM count (archsim presets a100, h100, a6000, b200). Each design
is a general Mapping scored by the same estimator as the spatial arrays; nothing here computes a
latency. The GPU's launch structure is mapping structure:
- a CTA is one tile of queries (Br rows; with GQA, one query head of the group): the CTAs of a
  head are a spatial loop at the L2 level (each on its own SM, each reading L2 itself), and the
  heads (batch x heads, or batch x KV heads with GQA) are the mapping's independent instances,
  slots / CTAs-per-head of them at once (`Mapping.parallel_instances`, a fraction when a head
  has more CTAs than there are slots): the rounds are ceil(all CTAs / slots), so waves of CTAs
  over SMs and the tail of the last wave come from the structure;
- occupancy (CTAs resident per SM) is the smallest of shared-memory capacity / the CTA's shared-
  memory footprint, register file / its register footprint (footprints from the model's tiles)
  and the SM's resident-CTA limit of its compute capability (`max_ctas_per_sm`); occupancy k
  shares an SM's units among k CTAs (each CTA's spatial fan-out is 1/k of the SM) and
  multiplies the CTA slots per wave;
- K/V reuse in L2: the CTAs of one head share each K/V tile fetched from HBM (the CTA loop sits
  below HBM and does not index K or V); each CTA then reads it from L2 into its own shared
  memory (`multicast=False`), so L2 and shared-memory traffic are per CTA. A head's K/V stay
  in L2 while its CTAs run (launch order keeps a head's CTAs together), not checked against L2
  capacity across concurrent heads;
- the schedule: `fa2` runs a KV tile's GEMM, softmax and GEMM one after another (a sequential
  stage: each overlaps only its own transfers; FA2 does not overlap softmax with matmul);
  `fa3` is one pipelined stage with an epoch per KV tile per CTA (ping-pong between warpgroups
  and intra-warpgroup pipelining overlap the softmax of one tile with the GEMMs of the next).
Tile sizes (Br, Bc) are searched: every candidate that fits shared memory and registers is
scored by the estimator and the fastest is kept; the queries are padded to whole Br-row tiles
(`padded_rows`: decode's one query computes a 64-row tile). A causal mask is the visited tiles' work
(`causal_keys`); GQA shares each K/V head among its query heads (the `one_pass_gqa` cascade,
the group's query heads a spatial CTA loop that does not index K/V). Decode: `split_k`
(Flash-Decoding) and `stream_k` (LeanAttention) on the `decode_split_k` cascade. The
estimator has no memory latency, so a CTA streams at the aggregate bandwidths: decode with few
CTAs (FA2 at batch 1) is optimistic. FA1 (`fa1`): one CTA per head, K/V blocks outer and query
blocks inner (Algorithms 1 and 4), the released kernel's blocks (else FA1's block rule);
standard attention in training (`standard_dropout`: scale, mask, softmax, dropout) and the
standard backward as kernels via HBM.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from archsim.estimator import ArchArrays, estimate
from einsum_cascades import Cascade, load

from .compile import Rows, Template, family, rows_of
from .mapping import (IN_PES, EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError,
                      Stage, divisors, working_einsums)
from .plain import costs

#: head dims the FlashAttention kernels are built for (FA2 README: all head dims up to 256;
#: FA3 paper: 64, 128 and 256 in the released kernels)
HEAD_DIMS = {"fa2": (32, 64, 96, 128, 160, 192, 224, 256), "fa3": (64, 128, 256),
             "standard": tuple(range(8, 257, 8))}
#: tile edges tried for Br and Bc (MMA fragments are 16 wide)
TILE_EDGES = (16, 32, 64, 128, 256)
#: smallest query tile per CTA: FA2 runs 4 warps, each owning 16-row mma.sync fragments
#: (FA2 paper Sec. 3.3); FA3 runs two consumer warpgroups, each a wgmma with M = 64 (FA3
#: paper Sec. 3.1)
MIN_BR = {"fa2": 4 * 16, "fa3": 2 * 64}
#: query rows the split phase of Flash-Decoding and LeanAttention computes for a head's one
#: query: both run FA2's split-KV kernel tile, kBlockM = 64 rows "fixed for all head
#: dimensions" (flash-attention csrc/flash_attn/src/flash_fwd_launch_template.h)
DECODE_ROWS = MIN_BR["fa2"]
#: FA2 issues warp-level mma.sync (m16n8k16), the Ampere instruction. Assumption: on Hopper it
#: runs at the Ampere per-SM rate, 4 x 256 = 1024 dense FP16 MACs per clock per SM (A100
#: whitepaper), half the 2048 that Hopper's tensor cores reach through warpgroup wgmma (H100
#: whitepaper: the 4th-generation tensor core doubles the per-SM MMA rate; FA3 paper Sec. 1:
#: FA2 reaches only ~35% of H100 peak since it does not use wgmma). No microbenchmark figure
#: for mma.sync on H100 was found to cite; the value is the Ampere rate, not a fit.
MMA_SYNC_MACS_PER_SM_CLOCK = 1024
#: the compute capability FA3 runs on: its kernels are built for Hopper alone (Dao-AILab/
#: flash-attention hopper/setup.py compiles sm_90a; README "Requirements: H100 / H800 GPU"), as
#: wgmma and TMA are sm_90a features, which arch-specific targets do not carry forward to
#: Blackwell (10.0, whose kernel is FlashAttention-4); Ampere (8.0, 8.6) has neither
FA3_CAPABILITY = 9.0
#: resident CTAs and warps an SM holds at most, by compute capability: (blocks, warps). CUDA C++
#: Programming Guide, "Technical Specifications per Compute Capability" (maximum number of
#: resident blocks / warps per SM), the same figures in NVIDIA's tuning guides: Ampere (8.0: 32
#: blocks, 64 warps; 8.6: 16, 48), Hopper (9.0: 32, 64), Blackwell (10.0: 32, 64). Confirmed from
#: public transcriptions of those pages, not the pages themselves
SM_RESIDENT = {8.0: (32, 64), 8.6: (16, 48), 9.0: (32, 64), 10.0: (32, 64)}
#: assumption: a spec with no or an unlisted compute capability gets the tightest listed limits
SM_RESIDENT_UNLISTED = (min(b for b, _ in SM_RESIDENT.values()),
                        min(w for _, w in SM_RESIDENT.values()))
#: warps of one FA2 CTA: 4, each owning 16-row mma.sync fragments (MIN_BR; FA2 paper Sec. 3.3;
#: flash-attention's forward kernel traits, e.g. Flash_fwd_kernel_traits<128, 128, 64, 4>)
FA2_CTA_WARPS = 4
#: units of the GPU presets
TENSOR, SFU, CUDA = "tensor_core", "sfu", "cuda_core"
#: the components the GPU mappings place work and tiles on, by name (a spec must have them)
COMPONENTS = (TENSOR, SFU, CUDA, "registers", "smem", "l2", "hbm")
#: what binds where: matmuls on tensor cores, exponentials on the SFUs, the rest on CUDA cores
#: (the B* products: the FlashAttention backward's recomputed exponentials BSN and its four GEMMs;
#: SR: the exponentials PyTorch's block softmax recomputes in its epilogue)
_EXP = ("SLN", "PRM", "SN", "BSN", "SR")
_MATMUL = ("BQK", "SLNV", "QK", "BDV", "BDP", "BDK", "LDQ")
#: 1-pass intermediates held in registers (the S/P tile, running max/sum, the O accumulator)
#: and the products the MMA or FMA consumes at once (P.V into O, O rescaled)
_ONE_PASS_KEEP = {"BQK": "registers", "SLN": "registers", "LM": "registers",
                  "RM": "registers", "RD": "registers", "RNV": "registers", "PRM": "registers",
                  "SLD": "registers", "SPD": "registers", "SLNV": IN_PES, "SPNV": IN_PES}


@dataclass(frozen=True)
class Attention:
    """One attention call on a GPU: batch, query heads (and KV heads for GQA), head dim,
    queries and keys (keys = queries unless given: decode has one query and a long context)."""

    batch: int
    heads: int
    head_dim: int
    seq: int
    keys: int | None = None
    kv_heads: int | None = None
    causal: bool = False

    def __post_init__(self) -> None:
        for name in ("batch", "heads", "head_dim", "seq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got "
                                 f"{getattr(self, name)}")
        if self.keys is not None and self.keys < 1:
            raise ValueError(f"context must be at least 1, got {self.keys}")
        kv = self.kv_heads or self.heads
        if kv < 1 or self.heads % kv:
            raise ValueError(f"{self.heads} query heads are not a multiple of {kv} KV heads")
        if self.causal and self.m != self.seq:
            raise ValueError("a causal mask needs as many keys as queries")

    @property
    def m(self) -> int:
        """Keys per head."""
        return self.keys or self.seq

    @property
    def groups(self) -> int:
        """KV heads (each shared by heads / groups query heads)."""
        return self.kv_heads or self.heads

    @property
    def flops(self) -> float:
        """Forward FLOPs as FlashAttention counts them: 4 P M D H B, halved when causal."""
        f = 4.0 * self.seq * self.m * self.head_dim * self.heads * self.batch
        return f / 2 if self.causal else f


def sms(arch) -> int:
    """SMs of a GPU preset (instances of its tensor-core unit)."""
    if TENSOR not in arch.computes:
        raise MappingError(f"'{arch.name}' is not a GPU preset (it has no '{TENSOR}' unit)")
    return arch.computes[TENSOR].count


def per_sm(arch, unit: str) -> int:
    """PEs of one SM's instance of a unit."""
    return math.prod(arch.computes[unit].shape)


def fill(extents: dict[str, int], order: tuple[str, ...], lanes: int) -> tuple[Loop, ...]:
    """Spatial loops over a tile's ranks (in `order`) filling up to `lanes` PEs exactly where
    the extents allow (power-of-two splits)."""
    out = []
    for r in order:
        if lanes <= 1:
            break
        f = math.gcd(extents.get(r, 1), lanes)
        if f > 1:
            out.append(Loop(r, f, True))
            lanes //= f
    return tuple(out)


def grid(tiles: list[tuple[str, int]], slots: int) -> tuple[tuple[Loop, ...], float]:
    """CTAs of one instance over the SMs' CTA slots: (spatial loops at L2, instances at once).
    Every CTA is a spatial iteration (each SM reads L2 itself: no multicast); slots / CTAs
    instances run at once, a fraction when one instance has more CTAs than there are slots, so
    the rounds are ceil(all CTAs / slots): exact waves, tail included."""
    spatial = tuple(Loop(rank, n, True, multicast=False) for rank, n in tiles if n > 1)
    return spatial, slots / math.prod(n for _, n in tiles)


def unit_of(key: str) -> str:
    """Unit an Einsum binds to (by its role; the key without its iterate suffix)."""
    base = key.split("[")[0]
    if base in _EXP:
        return SFU
    return TENSOR if base in _MATMUL else CUDA


def _one_pass_cascade(a: Attention) -> tuple[Cascade, dict[str, int], int, list[tuple[str, int]]]:
    """The 1-pass cascade for a problem, its shapes (M0 set later), instances, CTA ranks."""
    if a.groups != a.heads:
        c = load("one_pass_gqa")
        shapes = {"g": 1, "j": a.heads // a.groups}
        return c, shapes, a.batch * a.groups, [("j", a.heads // a.groups)]
    return load("one_pass"), {}, a.batch * a.heads, []


def causal_keys(n: int, br: int, bc: int) -> int:
    """Keys a query tile visits on average under a causal mask: query tile i (rows i Br ..
    (i + 1) Br - 1) visits the key tiles up to its last row, masked tiles above the diagonal
    skipped and the diagonal ones computed in full: (N + Br) / 2 keys on average, rounded up to
    whole Bc tiles ((T + 1) / 2 tiles when Br = Bc). The mapping runs the 1-pass cascade over
    that many keys per query tile: the work and K/V traffic of the visited tiles, spread evenly
    over the CTAs (the kernels launch the longest query tiles first, which evens the waves)."""
    return -(-(n + br) // (2 * bc)) * bc


def padded_rows(queries: int, br: int) -> int:
    """Query rows a head's CTAs compute: the queries rounded up to whole Br-row tiles.
    FlashAttention's warps each own 16-row MMA fragments, so a tile's tensor-core GEMMs,
    exponentials and row statistics run over all Br rows, the rows past the queries masked out
    (decode, one query per head: FA2's split-KV kernel has kBlockM = 64 "fixed for all head
    dimensions", flash-attention csrc/flash_attn/src/flash_fwd_launch_template.h). The padded
    rows' Q loads and O stores are counted too in FA2/FA3's 1-pass mapping (2 Br d bytes a head
    at decode: 64 / keys of the K/V bytes, under 7% from 1K keys); the split-KV decode kernels
    count the padded rows as work only (`EinsumMapping.padding`: their loads and stores are
    predicated off)."""
    return -(-queries // br) * br


def one_pass(a: Attention, arch, br: int, bc: int, kind: str = "fa2",
             occupancy: int = 1) -> Mapping:
    """FlashAttention's mapping of the 1-pass cascade: a CTA per Br queries, K/V streamed in Bc
    tiles through shared memory, the running state in registers; `kind` fa2 (mma.sync, steps in
    turn) or fa3 (wgmma at the Hopper rate, softmax overlapped with the next tile's GEMMs)."""
    c, shapes, heads, extra = _one_pass_cascade(a)
    m = causal_keys(a.m, br, bc) if a.causal else a.m
    rows = padded_rows(a.seq, br)
    if m % bc:
        raise MappingError(f"tiles {br} x {bc} do not divide {a.seq} queries x {m} keys")
    slots = sms(arch) * occupancy
    instances = heads
    shapes |= {"e": a.head_dim, "f": a.head_dim, "p": rows, "m": m, "m0": bc}
    m1 = m // bc
    spatial, parallel = grid(extra + [("p", rows // br)], slots)
    tile = {"p": br, "m0": bc, "e": a.head_dim, "f": a.head_dim}
    ems = []
    for e in working_einsums(c):
        space = set(e.space)
        unit = unit_of(e.key)
        lanes = per_sm(arch, unit)
        if unit == TENSOR and kind == "fa2":
            lanes = min(lanes, MMA_SYNC_MACS_PER_SM_CLOCK)
        lanes //= occupancy
        order = ("p", "m0", "e", "f")
        hbm = (Loop("m1", m1),) if "m1" in space and m1 > 1 else ()
        l2 = tuple(lp for lp in spatial if lp.rank in space)
        regs = fill({r: v for r, v in tile.items() if r in space}, order, lanes)
        ems.append(EinsumMapping(e.key, unit, (Level("hbm", hbm), Level("l2", l2),
                                               Level("smem"), Level("registers", regs)),
                                 {t: ("l2",) for t in ("Q", "AV") if t in e.inputs + (e.output,)}))
    keep = {t: lv for t, lv in _ONE_PASS_KEEP.items() if t in c.tensors}
    keys = tuple(em.einsum for em in ems)
    if kind == "fa3":
        # an epoch per KV tile of each CTA: the softmax of tile j overlaps the GEMMs of j + 1
        stages = (Stage(keys, "pipelined", m1),)
    else:
        stages = (Stage(keys),)  # one after another, each overlapping its own transfers
    return Mapping(c, shapes, tuple(ems), (FusionGroup(keys, keep),), stages,
                   instances=instances, parallel_instances=min(parallel, instances))


def scores(mappings: list[Mapping | None], arch, arrays: ArchArrays,
           templates: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score many mappings in bulk: those of one `compile.family` (one loop structure; tile
    sizes, shapes and waves may differ) are rows of one batch for one Template, compiled and
    estimated in one call each. Returns per mapping its latency, whether it fits (the compiled
    capacity and PE checks) and its resident bytes per instance of each memory level ([n, L],
    `arrays.levels`; NaN where the plain model rejects the mapping: None, an error of its
    structure, or more PEs than its units have). `templates` (family -> Template) carries
    Templates from one call to the next."""
    n, L = len(mappings), len(arrays.levels)
    latency, fits, foot = np.full(n, np.inf), np.zeros(n, bool), np.full((n, L), np.nan)
    templates = {} if templates is None else templates
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(mappings):
        try:
            key = family(m, arch) if m is not None else None
        except MappingError:
            key = None
        if key is not None:
            groups.setdefault(key, []).append(i)
    for key, group in groups.items():
        while key not in templates and group:  # from the first member the plain model accepts
            try:
                templates[key] = Template.from_mapping(mappings[group[0]], arch, arrays)
            except MappingError:
                group = group[1:]
        if not group:
            continue
        t, members = templates[key], []
        for i in group:
            try:
                members.append((i, t.factors_of(mappings[i], arch), rows_of(mappings[i], arrays)))
            except MappingError:
                continue
        if not members:
            continue
        idx = [i for i, _, _ in members]
        out = np.empty((len(idx), L))
        batch, valid = t.compile(np.stack([f for _, f, _ in members]), footprint=out,
                                 rows=Rows.stack([r for _, _, r in members]))
        accepted = (batch.lanes_used <= t.unit_lanes).all(axis=1)
        foot[idx] = np.where(accepted[:, None], out, np.nan)
        fits[idx] = valid
        latency[idx] = np.where(valid, estimate(arrays, batch).latency_s, np.inf)
    return latency, fits, foot


def max_ctas_per_sm(arch, warps: int = FA2_CTA_WARPS) -> int:
    """CTAs of `warps` warps an SM can hold at once: the smaller of its resident-block limit and
    its resident warps / the CTA's warps (`SM_RESIDENT`, by the spec's compute capability)."""
    blocks, sm_warps = SM_RESIDENT.get(arch.compute_capability, SM_RESIDENT_UNLISTED)
    return min(blocks, sm_warps // warps)


def occupancy(mappings: list[Mapping | None], arch, arrays: ArchArrays | None = None,
              templates: dict | None = None, warps: int = FA2_CTA_WARPS) -> np.ndarray:
    """CTAs per SM that shared memory, the register file and the SM's resident limits allow
    (CTAs of `warps` warps), per mapping, from the compiled footprints (0: not even one; -1:
    the plain model rejects the mapping)."""
    arrays = arrays or ArchArrays.from_arch(arch)
    foot = scores(mappings, arch, arrays, templates)[2]
    limit = max_ctas_per_sm(arch, warps)

    def fitting(level: str) -> np.ndarray:
        """CTAs whose footprints fit the level (the limit where a CTA keeps nothing there)."""
        f = foot[:, arrays.levels.index(level)]
        cap = arch.memories[level].capacity_bytes
        return np.where(f > 0, np.floor_divide(cap, np.where(f > 0, f, 1.0)), limit)

    occ = np.minimum(np.minimum(fitting("smem"), fitting("registers")), limit)
    return np.where(np.isnan(foot).any(axis=1), -1, occ).astype(int)


@dataclass
class Choice:
    """The chosen mapping of a search, its tiles, occupancy and the candidates tried."""

    mapping: Mapping
    tiles: tuple[int, ...]
    occupancy: int
    latency_s: float
    tried: int


def best_of(candidates, arch, templates: dict | None = None) -> Choice:
    """Score the (tiles, builder, occupancy) candidates in bulk (`scores`) and keep the fastest
    that fits, the first of equals."""
    arrays = ArchArrays.from_arch(arch)
    cands = list(candidates)
    built = [_built(build) for _, build, _ in cands]
    latency, fits, _ = scores(built, arch, arrays, templates)
    if not fits.any():
        raise MappingError(f"no tile size fits the shared memory, registers and L2 of "
                           f"'{arch.name}'")
    i = int(np.flatnonzero(fits)[np.argmin(latency[fits])])
    return Choice(built[i], cands[i][0], cands[i][2], float(latency[i]), len(cands))


def _built(build) -> Mapping | None:
    """A candidate's mapping, None where its builder finds no such mapping."""
    try:
        return build()
    except MappingError:
        return None


def _edges(n: int) -> list[int]:
    """Tile edges that divide n (n itself when shorter than an MMA fragment: decode's query)."""
    return [n] if n < TILE_EDGES[0] else [t for t in TILE_EDGES if t <= n and n % t == 0]


def check_head_dim(kind: str, d: int, mapper: str | None = None) -> None:
    """One-line error for a head dim the kernel is not built for (`mapper`: the design that
    takes `kind`'s head dims, named in the message)."""
    if d not in HEAD_DIMS[kind]:
        dims = HEAD_DIMS[kind]
        listed = ", ".join(map(str, dims)) if len(dims) < 12 else "multiples of 8 up to 256"
        raise ValueError(f"head dim {d} is not supported by {mapper or kind} (supported: {listed})")


def flash(a: Attention, arch, kind: str = "fa2") -> Choice:
    """FA2 or FA3 with the fastest tiles that fit (searched over Br x Bc)."""
    check_head_dim(kind, a.head_dim)
    if kind == "fa3" and arch.compute_capability != FA3_CAPABILITY:
        has = (f"compute capability {arch.compute_capability:.1f}"
               if arch.compute_capability is not None else "no compute_capability in its spec")
        raise ValueError(f"fa3 needs Hopper's wgmma and TMA (compute capability "
                         f"{FA3_CAPABILITY:.1f}); '{arch.name}' is not a Hopper GPU ({has}): "
                         f"use fa2")
    bcs = _edges(a.m)
    if (a.seq >= TILE_EDGES[0] and a.seq % TILE_EDGES[0]) or not bcs:
        raise ValueError(f"sequence length {a.seq} (keys {a.m}) must be a multiple of 16 for "
                         f"the GPU tile mappers (or, one tile, under 16)")

    # Br from the kernel's smallest tile up; the queries padded to whole tiles
    tiles = [(br, bc) for br in TILE_EDGES if br == MIN_BR[kind] or MIN_BR[kind] < br <= a.seq
             for bc in bcs]
    one = [_built(lambda br=br, bc=bc: one_pass(a, arch, br, bc, kind)) for br, bc in tiles]
    templates: dict = {}
    occ = occupancy(one, arch, templates=templates)
    if kind == "fa3":
        occ = np.minimum(occ, 1)  # FA3's warp-specialised CTA takes the whole register file
    # resident CTAs split each SM's units evenly: powers of two up to what fits (a limit like
    # 8.6's 12 CTAs of 4 warps is not tried: 12 does not divide the units' power-of-two PEs)
    return best_of([((br, bc), (lambda m=m, br=br, bc=bc, k=k: m if k == 1 else
                                one_pass(a, arch, br, bc, kind, k)), k)
                    for (br, bc), m, o in zip(tiles, one, occ)
                    for k in ctas_tried(o)], arch, templates)


def ctas_tried(most: int) -> list[int]:
    """CTAs per SM the FA2/FA3 search tries: the powers of two up to `most`."""
    return [2 ** i for i in range(max(0, int(most)).bit_length())]


#: the GEMM kernels' CTA output tiles (up to 128 x 128, cuBLAS-style) and the chunks their
#: reductions stream from HBM in (up to 64: cuBLAS-style K tiles)
GEMM_TILE, GEMM_CHUNK = 128, 64
#: PyTorch's softmax runs its persistent warp kernel (a row read once, one exponential per
#: score) when `dim_size <= 1024 && dim_size * sizeof(scalar_t) <= 4096`, else its block kernel
#: cunn_SoftMaxForward (aten/src/ATen/native/cuda/SoftMax.cu, host_softmax, PyTorch 2.3), which
#: passes over the row three times and recomputes the exponentials (`three_pass_recompute`)
PERSISTENT_SOFTMAX_KEYS = 1024
#: PyTorch 2.3's block softmax launches SoftMax_getBlockSize(ILP, dim_size) threads a CTA: ILP =
#: sizeof(float4) / sizeof(scalar_t) elements a thread, half of min(dim_size / ILP, 1024) rounded
#: up to a power of two, at least a warp (aten/src/ATen/native/cuda/SoftMax.cu before the
#: shared-memory variant, e.g. pytorch commit e9865f53: 128 threads at 2K 2-byte keys, 512 from
#: 8K); its other limits (block.x floats of shared memory, its registers) are assumed not to bind
SOFTMAX_VECTOR_BYTES, SOFTMAX_MAX_THREADS, WARP = 16, 1024, 32


def standard(a: Attention, arch) -> Choice:
    """Standard attention as three kernels through HBM, as the FlashAttention-2/-3 benchmarks'
    PyTorch reference runs it (`attention_pytorch`: baddbmm with alpha = 1/sqrt(d) in its
    epilogue, torch.softmax on 2-byte scores, dropout at p = 0 returning its input, a bmm):
    S = QK^T written out, a row softmax (PyTorch's persistent kernel up to 1024 keys, a row of S
    read from HBM once; beyond, its block kernel, which recomputes the exponentials and whose
    second and third passes re-read a row its CTA has just read: from L2 where the rows of the
    CTAs in flight fit it, 512 rows of 32 KB at 16K keys on H100, else from HBM; the faster
    that fits is kept), P written out, and O = PV; matmuls in 128 x 128 CTA tiles
    (cuBLAS-style) on the tensor cores, in blocks of about a wave where a head's whole grid
    overflows L2 (`_kernels`). Not counted: the benchmark's layout copies
    of q, k, v out of its packed qkv tensor (each read and written: six N x d tensors of
    traffic a head; docs/gpu-model.md). Causal, the benchmark adds its (N, N) 0 / -10000 triu
    mask to the scores before the softmax (`scores + causal_mask`): one more elementwise kernel
    (`three_pass_masked`, `three_pass_recompute_masked`: S and the mask read, S' written, in
    128 x 128 tiles on the CUDA cores); the matmuls and softmax still run over all N^2 scores.
    The mask, shared by every head, is counted as a read per head (each instance fetches its
    own operands): an upper bound, no L2 reuse across heads is modelled."""
    check_head_dim("standard", a.head_dim)
    if a.groups != a.heads:
        a = replace(a, kv_heads=None)  # K/V repeated per query head, as PyTorch does
    recompute = a.m > PERSISTENT_SOFTMAX_KEYS
    name = "three_pass_recompute" if recompute else "three_pass"
    c = load(f"{name}_masked" if a.causal else name)
    row = ("GM", "SN", "SD", "SR", "A") if recompute else ("GM", "SN", "SD", "A")
    n, m = a.seq, a.m
    if n % 16 or m % 16:
        raise ValueError(f"sequence length {n} (keys {m}) must be a multiple of 16")
    bt = max(t for t in _edges(n) if t <= GEMM_TILE)
    bk = max(t for t in _edges(m) if t <= GEMM_TILE)
    # three kernels (four with the mask), each filling the SMs with its own grid; the block
    # softmax's row re-read from L2 where the rows in flight fit it, else from HBM
    reread = ("l2" if softmax_rows_fit_l2(a, arch, c.tensors["QK"].word_bytes) else "hbm"
              ) if recompute else ""
    return best_of([((bt, bk), lambda: _kernels(a, arch, c, (row,), ("QK", "AV"), reread), 1)],
                   arch)


def softmax_block_threads(keys: int, word_bytes: int) -> int:
    """Threads of PyTorch 2.3's block softmax CTA for a row of `keys` (SOFTMAX_MAX_THREADS)."""
    most = min(keys // (SOFTMAX_VECTOR_BYTES // word_bytes), SOFTMAX_MAX_THREADS) // 2
    return max(WARP, 1 << (most - 1).bit_length() if most > 1 else 1)


def softmax_slots(a: Attention, arch, word_bytes: int) -> int:
    """Rows the block softmax's CTAs hold at once: SMs x the CTAs of its threads an SM holds
    (`max_ctas_per_sm`), at most every row of every head."""
    warps = softmax_block_threads(a.m, word_bytes) // WARP
    return min(sms(arch) * max_ctas_per_sm(arch, warps), a.seq * a.batch * a.heads)


def softmax_rows_fit_l2(a: Attention, arch, word_bytes: int) -> bool:
    """Whether the rows in flight (`softmax_slots`, a row of `a.m` scores each) fit L2: then
    the block kernel's second and third passes hit L2, else they read HBM again."""
    rows = softmax_slots(a, arch, word_bytes) * a.m * word_bytes
    return rows <= arch.memories["l2"].capacity_bytes


def softmax_wave(a: Attention, arch, word_bytes: int) -> int:
    """Rows of one instance the mapping's L2 holds at once: the largest divisor of its rows (a
    loop's factor) within `softmax_slots`, so the mapping's L2 check never exceeds the rows
    really in flight (`softmax_rows_fit_l2` decides L2 or HBM)."""
    slots = softmax_slots(a, arch, word_bytes)
    return max(t for t in divisors(a.seq) if t <= slots)


def wave_block(counts: tuple[int, ...], slots: int) -> tuple[int, ...]:
    """A block of about one wave of CTAs over a grid of `counts` CTAs a rank: a divisor of each
    (a loop's factors divide its rank), their product nearest the CTA slots on a log scale (the
    larger of equals), the squarest of those (fewest re-reads of the operands a block shares).
    For the GEMM kernels an assumption: cuBLAS's kernels are closed, but a GPU runs one wave of
    CTAs at a time and tiled GEMMs rasterise their tiles in L2-friendly swizzled blocks (as
    CUTLASS's threadblock swizzles do), so a block is taken to be one wave, one CTA per SM (the
    model's GEMM kernels), as square as the tile counts' divisors allow."""
    return min(itertools.product(*map(divisors, counts)),
               key=lambda b: (abs(math.log(math.prod(b) / slots)), -math.prod(b),
                              max(b) / min(b)))


def blocks(counts: list[tuple[str, int]], block: dict[str, int], slots: int
           ) -> tuple[tuple[Loop, ...], tuple[Loop, ...], float]:
    """A kernel's grid of CTAs (`counts` a rank) in blocks (`block` a rank): (temporal loops
    over the blocks at HBM, the block's CTAs as spatial loops at L2 (`grid`), instances at
    once). L2 holds one block's tiles; the whole grid is one block."""
    spatial, par = grid([(r, block[r]) for r, _ in counts], slots)
    return tuple(Loop(r, n // block[r]) for r, n in counts if n > block[r]), spatial, par


def _one_query_tile(a: Attention) -> None:
    """The split-KV decode mappings model one query tile per head (at most `DECODE_ROWS`
    queries: the kernel's kBlockM); more queries would take more query blocks, not modelled."""
    if a.seq > DECODE_ROWS:
        raise MappingError(f"the decode mappers take at most {DECODE_ROWS} queries a head (one "
                           f"query tile), got {a.seq}")


def _decode_einsums(c: Cascade, hbm: dict[str, tuple[Loop, ...]], l2: dict[str, tuple[Loop, ...]],
                    tile: dict[str, int], arch, padding: float = 1.0
                    ) -> tuple[EinsumMapping, ...]:
    """Per Einsum of the decode cascade: HBM loops, L2 (CTA) loops and spatial loops filling
    its unit's PEs over its tile, by the ranks of its space. `padding`: the query rows the
    kernel computes per query (`padded_rows`; the split-KV kernel's 64-row tile for one
    query): the padded rows' work fills the PEs (every unit's, the SFU's 16 per SM included)
    and is counted in ops and energy; their Q loads and partial-result stores are predicated
    off in the kernel, so they move no bytes. Both decode kernels are FA2 code (flash-
    attention's split-KV kernel; LeanAttention builds on it): their GEMMs issue mma.sync."""
    ems = []
    for e in working_einsums(c):
        space = set(e.space)
        unit = unit_of(e.key)
        lanes = per_sm(arch, unit)
        if unit == TENSOR:
            lanes = min(lanes, MMA_SYNC_MACS_PER_SM_CLOCK)
        regs = fill({r: v for r, v in tile.items() if r in space}, ("p", "m0", "e", "f", "m1"),
                    lanes)
        ems.append(EinsumMapping(e.key, unit, (
            Level("hbm", tuple(lp for lp in hbm.get("*", ()) if lp.rank in space)),
            Level("l2", tuple(lp for lp in l2.get("*", ()) if lp.rank in space)),
            Level("smem"), Level("registers", regs)), padding=padding))
    return tuple(ems)


def _decode_padding(a: Attention) -> float:
    """Query rows the split phase computes per query: FA2's split-KV tile (`DECODE_ROWS`)."""
    return padded_rows(a.seq, DECODE_ROWS) / a.seq


#: split-phase Einsums of decode_split_k (each split's local max, sum and numerator) and the
#: combine that rescales and reduces the splits' partial results
_SPLIT = ("BQK", "LM", "SLN", "SLD", "SLNV")
_COMBINE = ("GM", "PRM", "SD", "SNV", "AV")
#: a split's scores stay in shared memory for its max and exponentials; its partial results
#: (max, sum, numerator) go to HBM for the combine kernel, as in Flash-Decoding
_SPLIT_KEEP = {"BQK": "smem", "SLN": "registers", "PRM": "registers", "GM": "registers",
               "SD": "registers", "SNV": "registers"}


def split_k(a: Attention, arch, splits: int, bc: int) -> Mapping:
    """Flash-Decoding: each head's keys split into `splits` chunks of whole Bc tiles, one CTA
    each, streaming the chunk's K/V in Bc tiles; then a combine kernel (one CTA per head)
    rescales and reduces. As in flash-attention's split-KV kernel a split holds
    ceil(tiles / splits) tiles, the last one fewer; the model counts every split in full (at
    most splits - 1 tiles of a head over; 6 splits of 128-key tiles: 12.5% at 4K keys, 3.1% at
    16K, under 1% from 64K: docs/gpu-model.md). CTAs
    beyond one per SM run in further rounds: an SM holding two CTAs (the kernel's 2 slots per
    SM) takes twice a CTA's time, the makespan of the wave. The split phase computes the
    kernel's 64-row query tile (`DECODE_ROWS`, `_decode_einsums`); the combine kernel
    (flash-attention's combine_attn_seqk_parallel, rows of batch x heads x queries) reduces
    the real rows only."""
    _one_query_tile(a)
    c = load("decode_split_k")
    if a.m % bc:
        raise MappingError(f"{bc}-key tiles do not divide {a.m} keys")
    chunk = -(-(a.m // bc) // splits) * bc
    m = splits * chunk
    instances = a.batch * a.heads
    slots = sms(arch)
    spatial, parallel = grid([("m1", splits)], slots)
    stream = (Loop("m0", chunk // bc),) if chunk > bc else ()
    tile = {"p": a.seq, "m0": bc, "e": a.head_dim, "f": a.head_dim, "m1": 1}
    split = _decode_einsums(c, {"*": stream}, {"*": spatial}, tile, arch, _decode_padding(a))
    combine = _decode_einsums(c, {}, {}, {"p": a.seq, "m1": splits, "f": a.head_dim}, arch)
    ems = tuple(em for em in split if em.einsum in _SPLIT) + tuple(
        em for em in combine if em.einsum in _COMBINE)
    keep = {t: lv for t, lv in _SPLIT_KEEP.items() if t in c.tensors}
    stages = (Stage(_SPLIT, parallel_instances=min(parallel, instances)),
              Stage(_COMBINE, parallel_instances=min(slots, instances)))
    return Mapping(c, {"e": a.head_dim, "f": a.head_dim, "p": a.seq, "m": m, "m0": chunk}, ems,
                   (FusionGroup(_SPLIT, keep),), stages, instances=instances)


#: flash-attention's split-KV kernel (csrc/flash_attn/flash_api.cpp, set_params_splitkv, and
#: flash_fwd_launch_template.h): K/V tile kBlockN = 256 keys up to head dim 64, 128 up to 128,
#: 64 above; the split heuristic counts 2 CTA slots per SM ("we multiply number of SMs by 2 to
#: hard-code the fact that we're using 128 threads per block") and at most 128 splits
SPLITKV_CTAS_PER_SM = 2
MAX_SPLITS = 128


def splitkv_block_n(head_dim: int) -> int:
    """Keys per K/V tile of flash-attention's split-KV kernel (flash_api.cpp)."""
    return 256 if head_dim <= 64 else 128 if head_dim <= 128 else 64


def num_splits(ctas: int, slots: int, tiles: int, max_splits: int = MAX_SPLITS) -> int:
    """Flash-attention's `num_splits_heuristic` (csrc/flash_attn/flash_api.cpp), restated: one
    split once the CTAs (batch x heads x query blocks) fill 80% of the slots; otherwise the
    wave efficiency of s splits is w / ceil(w), w = ctas s / slots, over the eligible s (those
    that change the tiles per split, ceil(tiles / s)), and the fewest splits within 85% of the
    best efficiency are taken."""
    if ctas >= 0.8 * slots:
        return 1
    top = min(max_splits, slots, tiles)
    eligible = [s for s in range(1, top + 1)
                if s == 1 or -(-tiles // s) != -(-tiles // (s - 1))]
    eff = {s: (ctas * s / slots) / math.ceil(ctas * s / slots) for s in eligible}
    best = max(eff.values())
    return next(s for s in eligible if eff[s] >= 0.85 * best)


def flash_decoding(a: Attention, arch) -> Choice:
    """Flash-Decoding as flash-attention launches it: the split-KV kernel's K/V tile for the
    head dim and the split count of its heuristic (over 2 CTA slots per SM)."""
    check_decode(a)
    bc = splitkv_block_n(a.head_dim)
    if a.m % bc:
        raise ValueError(f"context {a.m} must be a multiple of the split-KV tile ({bc} keys at "
                         f"head dim {a.head_dim}) for the decode mappers")
    ctas = a.batch * a.heads * padded_rows(a.seq, DECODE_ROWS) // DECODE_ROWS
    s = num_splits(ctas, SPLITKV_CTAS_PER_SM * sms(arch), a.m // bc)
    return best_of([((s, bc), (lambda: split_k(a, arch, s, bc)), 1)], arch)


def stream_k(a: Attention, arch, bc: int) -> Mapping:
    """LeanAttention: the (batch, head, KV tile) work linearised and split evenly over the SMs,
    one CTA each. The mapping's instances are the SMs' equal shares: each runs the split phase
    over ceil(tiles / SMs) KV tiles (the last shares, shorter, counted in full) and writes its
    partial (max, sum, numerator) to HBM; the combine reads it back, as the host CTA does. A
    share that spans two heads loads a second query and writes a second partial in the kernel;
    that is not counted (one query and one partial per SM: a few hundred bytes each), nor is
    the host CTA's reduction of the partials of the SMs that shared a head. The split phase
    computes FA2's 64-row query tile (`DECODE_ROWS`), the combine the real rows."""
    _one_query_tile(a)
    c = load("decode_split_k")
    slots = sms(arch)
    tiles = a.batch * a.heads * (a.m // bc)
    share = -(-tiles // slots)  # tiles per SM (the last SMs may have fewer: counted in full)
    ctas = min(slots, tiles)
    m = share * bc
    stream = (Loop("m0", share),) if share > 1 else ()
    tile = {"p": a.seq, "m0": bc, "e": a.head_dim, "f": a.head_dim, "m1": 1}
    split = _decode_einsums(c, {"*": stream}, {}, tile, arch, _decode_padding(a))
    combine = _decode_einsums(c, {}, {}, {"p": a.seq, "m1": 1, "f": a.head_dim}, arch)
    ems = tuple(em for em in split if em.einsum in _SPLIT) + tuple(
        em for em in combine if em.einsum in _COMBINE)
    keep = {t: lv for t, lv in _SPLIT_KEEP.items() if t in c.tensors}
    stages = (Stage(_SPLIT, parallel_instances=ctas), Stage(_COMBINE, parallel_instances=ctas))
    return Mapping(c, {"e": a.head_dim, "f": a.head_dim, "p": a.seq, "m": m, "m0": m}, ems,
                   (FusionGroup(_SPLIT, keep),), stages, instances=ctas,
                   parallel_instances=ctas)


def lean(a: Attention, arch) -> Choice:
    """LeanAttention (stream-K decode) with the KV tile the search finds fastest."""
    check_decode(a)
    tiles = [t for t in (64, 128, 256) if a.m % t == 0]
    if not tiles:
        raise ValueError(f"context {a.m} must be a multiple of 64 for the decode mappers")
    return best_of((((bc,), (lambda bc=bc: stream_k(a, arch, bc)), 1) for bc in tiles), arch)


def check_decode(a: Attention) -> None:
    """Decode mappers take one query per head, one K/V head per query head."""
    if a.groups != a.heads:
        raise ValueError("the decode mappers model multi-head attention (a K/V head per query "
                         "head); grouped-query decode is not modelled")
    if a.seq != 1:
        raise ValueError(f"the decode mappers take one query per head, got {a.seq}")
    if a.causal:
        raise ValueError("decode attends to the whole context: --causal does not apply")
    check_head_dim("fa2", a.head_dim)


# ----------------------------------------------------------------------------- FlashAttention-1

def fa1_tiles(arch, d: int) -> tuple[int, int]:
    """FA1's block sizes from the shared memory M (in FP16 elements): Bc = ceil(M / 4d),
    Br = min(Bc, d) (FA1 paper, Algorithm 1 line 1)."""
    m = int(arch.memories["smem"].capacity_bytes // 2)
    bc = -(-m // (4 * d))
    return min(bc, d), bc


def _key_blocks_outer(a: Attention, arch, c: Cascade, br: int, bc: int, keep: dict[str, str],
                      rows_tensors: tuple[str, ...] = ()) -> Mapping:
    """FA1's loop order for a cascade tiled over M1 x M0: one CTA per head (FA1 parallelises
    over batch x heads), K/V blocks outer and query blocks inner, both temporal loops below HBM,
    so whatever is indexed by the queries and not kept on chip (the running O, l, m forward; dQ
    backward) is read and written in HBM once per K/V block."""
    d, n, m = a.head_dim, a.seq, a.m
    if a.groups != a.heads or a.causal:
        raise ValueError("the FA1 mappings model dense multi-head attention (no GQA, no mask)")
    if n % br:
        raise MappingError(f"query block {br} does not divide {n} queries")
    m1 = -(-m // bc)  # the last K/V block ragged
    tile = {"p": br, "m0": bc, "e": d, "f": d}
    ems = []
    for e in working_einsums(c):
        space = set(e.space)
        unit = unit_of(e.key)
        lanes = per_sm(arch, unit)
        if unit == TENSOR:
            lanes = min(lanes, MMA_SYNC_MACS_PER_SM_CLOCK)  # FA1 issues mma.sync (Ampere)
        hbm = tuple(lp for lp in (Loop("m1", m1), Loop("p", n // br))
                    if lp.rank in space and lp.factor > 1)
        regs = fill({r: v for r, v in tile.items() if r in space}, ("p", "m0", "e", "f"), lanes)
        ems.append(EinsumMapping(e.key, unit, (Level("hbm", hbm), Level("l2"), Level("smem"),
                                               Level("registers", regs))))
    keys = tuple(em.einsum for em in ems)
    instances = a.batch * a.heads
    return Mapping(c, {"e": d, "f": d, "p": n, "m": m, "m0": bc}, tuple(ems),
                   (FusionGroup(keys, {t: lv for t, lv in keep.items() if t in c.tensors}),),
                   (Stage(keys),), instances=instances,
                   parallel_instances=min(sms(arch), instances))


#: FA1 forward: the S/P tile and the products on chip; the running max RM, sum RD and output
#: RNV are not kept (Algorithm 1 reads and writes O, l, m in HBM per K/V block)
_FA1_FWD_KEEP = {t: lv for t, lv in _ONE_PASS_KEEP.items() if t not in ("RM", "RD", "RNV")}
#: FA1 backward (Algorithm 4): the recomputed S, P, dP, dS tiles on chip, the K/V block's dK
#: and dV accumulated in shared memory over the query blocks; dQ round-trips HBM per K/V block
_FA1_BWD_KEEP = {"BQK": "registers", "BSN": "registers", "BP": "registers", "BDP": "registers",
                 "BDS": "registers", "LDQ": IN_PES, "BDK": "smem", "BDV": "smem"}


#: FA1's released kernels (flash-attention v0.1, 2022-05-26, csrc/flash_attn/src/
#: fmha_fprop_fp16_kernel.sm80.cu and fmha_dgrad_fp16_kernel_loop.sm80.cu): head dim -> keys per
#: K/V block beyond 256 keys (FMHA_kernel_traits<S, D, STEP, ...>: S = 256 for d = 16, 32, 64,
#: forward and backward); each block's queries are visited 16 rows at a time (STEP = 16)
FA1_KERNEL_BC = {16: 256, 32: 256, 64: 256}
FA1_KERNEL_BR = 16
#: the released kernels accumulate O (forward) and dQ (backward) across K/V blocks in FP32
#: buffers in HBM (fmha_api.cpp: o_tmp and dq_tmp, dtype kFloat, when seq > the block)
_FA1_FP32 = {"forward": {"RNV": 4}, "backward": {"RDQ": 4}}


def fa1(a: Attention, arch, pass_: str = "forward") -> Choice:
    """FlashAttention-1: the forward (Algorithm 1, `one_pass`), the backward (Algorithm 4,
    `backward_flash`), with the released kernel's blocks (16 query rows x 256 keys, FP32
    accumulators in HBM) where it ships the head dim and loops over K/V blocks (more than 256
    keys), else the paper's block rule."""
    check_head_dim("fa2", a.head_dim, "fa1")
    if pass_ not in ("forward", "backward"):
        raise ValueError(f"the fa1 pass must be forward or backward, got '{pass_}'")
    released = a.head_dim in FA1_KERNEL_BC and a.m > FA1_KERNEL_BC[a.head_dim]
    if released:
        br, top = FA1_KERNEL_BR, FA1_KERNEL_BC[a.head_dim]
    else:
        br, top = fa1_tiles(arch, a.head_dim)
    name, keep = (("one_pass", _FA1_FWD_KEEP) if pass_ == "forward"
                  else ("backward_flash", _FA1_BWD_KEEP))
    cascade = load(name).with_word_bytes(_FA1_FP32[pass_] if released else {})
    # that Bc, or a smaller MMA-sized block where the model's on-chip tiles (which share no
    # space in place: S, P, dP, dS each a Br x Bc tile) do not fit
    bcs = [top] + [t for t in reversed(TILE_EDGES) if t < top]
    return best_of([((br, bc), (lambda bc=bc: _key_blocks_outer(a, arch, cascade, br, bc, keep)),
                     1) for bc in bcs], arch)


def _kernels(a: Attention, arch, c: Cascade, rows: tuple[tuple[str, ...], ...] = (),
             matmuls: tuple[str, ...] = (), reread: str = "",
             blocked: frozenset[str] | None = None) -> Mapping:
    """A cascade as separate kernels through HBM, each with its own grid: an Einsum a kernel of
    CTAs over output tiles of up to GEMM_TILE x GEMM_TILE, a long reduction streamed from HBM in
    chunks of up to GEMM_CHUNK (as `standard`'s GEMMs), the whole grid spatial at L2 (L2 holds
    every CTA's operand chunk and output tile: each operand read from HBM once); a kernel whose
    whole grid does not fit L2 (`blocked`, by default those found so) runs its output tiles in
    blocks of about one wave (`wave_block`) under temporal loops over the blocks at HBM: L2
    holds one block's, and an operand is re-read from HBM once per block along the output ranks
    it does not index. Each group in `rows` one row kernel (a CTA per query row). By default
    the row's N x N operands are staged in shared memory once for all the group's Einsums, as
    PyTorch's persistent softmax kernels do for rows of up to 1024 elements
    (aten/src/ATen/native/cuda/SoftMax.cu). `reread` "l2" or "hbm": PyTorch 2.3's block
    kernel (cunn_SoftMaxForward) instead, each of whose passes loads the row from global memory
    into registers (no shared memory) and consumes each exponential as it computes it (kept in
    the PEs, never stored): the row stays in L2 for the CTAs in flight (`softmax_wave`, a
    temporal loop over the waves above them: L2 holds one wave's rows, checked against its
    capacity) and only the first pass reads it from HBM ("l2"), or every pass does ("hbm"). The
    other N x N tensors stream past L2 (written once, read once per kernel); `matmuls` run on
    the tensor cores. Each kernel is its own phase (Mapping.phases): only its own tiles share
    shared memory."""
    n, m, d = a.seq, a.m, a.head_dim
    shapes = {"e": d, "f": d, "p": n, "m": m}
    instances = a.batch * a.heads
    slots = sms(arch)
    square = tuple(t for t, v in c.tensors.items() if set(v.ranks) == {"m", "p"})
    streamed = {t: ("l2",) for t in square}
    grouped = {k: g for g in rows for k in g}
    by = {e.key: e for e in c.einsums}
    wave = softmax_wave(a, arch, c.tensors[square[0]].word_bytes) if reread else 0
    ems, stages, fusion = [], [], []
    for e in working_einsums(c):
        unit = TENSOR if e.key in matmuls else unit_of(e.key)
        if e.key in grouped:
            g = grouped[e.key]
            regs = fill({r: shapes[r] for r in e.space if r != "p"}, ("m", "e", "f"),
                        per_sm(arch, unit))
            # with `reread`, a wave of CTAs below a temporal loop over the waves (what L2 holds;
            # the time keeps every kernel's one CTA per SM: slots / wave instances at once)
            stream, spatial, par = blocks([("p", n)], {"p": wave if reread else n}, slots)
            if reread:
                # each CTA walks its row (the keys its PEs do not cover) from L2: no row in
                # registers
                covered = math.prod(lp.factor for lp in regs)
                spatial += (Loop("m", m // covered),) if m > covered else ()
                held = _row_operands(g, by, square) if reread == "l2" else []
                via = {t: ("smem",) if t in held else ("l2", "smem") for t in square}
            else:
                staged = {t for k in g[:g.index(e.key)] for t in by[k].inputs}
                via = {t: v for t, v in streamed.items() if t not in staged}
        else:
            tile = {r: max((t for t in _edges(shapes[r])
                            if t <= (GEMM_TILE if r in e.out_ranks else GEMM_CHUNK)),
                           default=shapes[r]) for r in e.space}
            counts = [(r, shapes[r] // tile[r]) for r in e.out_ranks]
            block = (dict(zip(e.out_ranks, wave_block(tuple(t for _, t in counts), slots)))
                     if e.key in (blocked or ()) else dict(counts))
            outer, spatial, par = blocks(counts, block, slots)
            stream = outer + tuple(Loop(r, shapes[r] // tile[r]) for r in e.space
                                   if r not in e.out_ranks and shapes[r] > tile[r])
            regs = fill(tile, ("p", "m", "e", "f"), per_sm(arch, unit))
            via = streamed
        ems.append(EinsumMapping(e.key, unit, (Level("hbm", stream), Level("l2", spatial),
                                               Level("smem"), Level("registers", regs)), via))
        if e.key not in grouped:
            stages.append(Stage((e.key,), parallel_instances=min(par, instances)))
        elif e.key == grouped[e.key][0]:
            g = grouped[e.key]
            inner = {by[k].output for k in g[:-1]}
            # the block kernel's exponentials stay in the PEs, its row max and sum in shared
            # memory (its block reductions); the row is staged in shared memory, L2 or nowhere
            keep = {t: IN_PES if reread and t in square else "smem" for t in inner}
            staged_at = {"": "smem", "l2": "l2"}.get(reread)
            fusion.append(FusionGroup(g, keep, dict.fromkeys(
                _row_operands(g, by, square) if staged_at else (), staged_at)))
            stages.append(Stage(g, "pipelined", 1, parallel_instances=min(par, instances)))
    mapping = Mapping(c, shapes, tuple(ems), tuple(fusion), tuple(stages), instances=instances)
    if blocked is not None:
        return mapping
    cap = arch.memories["l2"].capacity_bytes
    over = frozenset(k for k, cost in costs(mapping, arch).items()
                     if k not in grouped and sum(cost.footprint["l2"].values()) > cap)
    return _kernels(a, arch, c, rows, matmuls, reread, over) if over else mapping


def _row_operands(g: tuple[str, ...], by: dict, square: tuple[str, ...]) -> list[str]:
    """The N x N tensors a row kernel's group reads that it does not produce (the scores)."""
    inner = {by[k].output for k in g}
    return [t for t in dict.fromkeys(t for k in g for t in by[k].inputs)
            if t in square and t not in inner]


def standard_backward(a: Attention, arch) -> Choice:
    """The standard backward (`backward_standard`) as separate kernels through HBM: dV = P^T dO
    and dP = dO V^T, the row term D and dS each a kernel, then dQ = dS K and dK = dS^T Q; each
    N x N matrix written once and read once per kernel."""
    check_head_dim("standard", a.head_dim)
    if a.groups != a.heads or a.causal:
        raise ValueError("the standard backward models dense multi-head attention")
    c = load("backward_standard")
    mp = _kernels(a, arch, c, matmuls=tuple(e.key for e in c.einsums if e.key not in ("D", "dS")))
    return best_of([((GEMM_TILE, GEMM_TILE), lambda: mp, 1)], arch)


#: the dropout mask PyTorch's CUDA dropout writes for the backward is one byte an element
#: (aten/src/ATen/native/cuda/Dropout.cu: fused_dropout_cuda's mask is kByte, the later
#: dropout_cuda<mask_t> a bool or uint8 tensor)
DROPOUT_MASK_BYTES = 1
_MASK = {"DM": DROPOUT_MASK_BYTES}
#: training attention's matmuls (three_pass_dropout, backward_standard_dropout)
_TRAIN_MATMUL = ("QK", "AV", "dV", "dPD", "dQ", "dKS")
def standard_dropout(a: Attention, arch, pass_: str = "forward") -> Choice:
    """Standard attention in training as the FA1 benchmark's PyTorch reference runs it, one
    kernel per op: forward K scaling, QK^T, padding mask, row softmax, dropout, PV
    (`three_pass_dropout`); backward the autograd kernels of each (`backward_standard_dropout`,
    the softmax backward one row kernel)."""
    check_head_dim("standard", a.head_dim)
    if a.groups != a.heads or a.causal:
        raise ValueError("the standard training mapping models dense multi-head attention")
    if pass_ not in ("forward", "backward"):
        raise ValueError(f"the pass must be forward or backward, got '{pass_}'")
    if pass_ == "forward":
        c, rows = load("three_pass_dropout").with_word_bytes(_MASK), (("GM", "SN", "SD", "A"),)
    else:
        c, rows = load("backward_standard_dropout").with_word_bytes(_MASK), (("D", "dS"),)
    mp = _kernels(a, arch, c, rows, _TRAIN_MATMUL)
    return best_of([((GEMM_TILE, GEMM_TILE), lambda: mp, 1)], arch)
