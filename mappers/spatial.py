"""Hand mappings of attention on spatial arrays (2D PE array + 1D PE array + global buffer).

Each design is a general Mapping (binding, shared loop nest, fusion, schedule) scored by the
same estimator; nothing here computes a latency. Designs follow the FuseMax paper (MICRO 2024):
- `fusemax`: the 1-pass cascade, M0 = P0 = array side on the 2D array, the running state on
  the 1D array, the two interleaved epoch by epoch (one epoch per P tile and M1 step);
- `architecture`: the same hardware and cascade without the interleaved binding: the phases
  of an epoch follow one another (each phase overlaps what its 2D and 1D work can), and the 2D
  array waits for each row's running max, the column's partial maxima being reduced one PE at a
  time (LM's M0 loop runs in time, not across the column).
P1 (queries resident in the buffer) is the largest that fits the buffer, found by the
template's capacity check rather than by a formula.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from archsim.estimator import ArchArrays
from einsum_cascades import Cascade, load

from .compile import Template, structure
from .fused import shared_nest_mapping
from .mapping import (IN_PES, EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError,
                      Stage, divisors)
from .search import Skeleton, SearchResult, candidate_bindings, fused_stages, search

#: the components the spatial-array mappings (here and in mappers.flat) place work and tiles
#: on, by name (a spec must have them)
COMPONENTS = ("pe2d", "pe1d", "global_buffer", "dram")
#: 1-pass Einsums on the 2D array in FuseMax's binding (README "FuseMax binding")
FUSEMAX_2D = ("BQK", "LM", "SLN", "SLD", "SLNV")
#: the per-epoch intermediates that stay in the PEs (registers; the 1D array takes the 2D
#: array's column results directly): the buffer holds only Q, RM, RD, RNV (README: "P1 as
#: large as the 16 MiB buffer allows for Q, RM, RD, RNV") and the streamed K and V tiles
FUSEMAX_KEEP = {"*": "global_buffer"} | {t: IN_PES for t in (
    "BQK", "LM", "SLN", "SLD", "SLNV", "PRM", "SPD", "SPNV")}


def array_side(arch) -> int:
    """The side of the square 2D PE array these mappings tile by (M0 = P0 = side); any other
    shape is refused: a mapping over two of its dimensions would leave the rest idle."""
    shape = arch.computes["pe2d"].shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise MappingError(f"the spatial mappings need a square 2D array: '{arch.name}' has "
                           f"pe2d.shape {list(shape)} (give [N, N])")
    return shape[0]


def _divisors_desc(n: int) -> list[int]:
    """Divisors of n, largest first."""
    return divisors(n)[::-1]


def first_fitting(candidates: Iterable[Mapping], arch, what: str) -> Mapping:
    """The first candidate whose tiles fit every memory (the template's capacity check);
    candidates of one structure share their Template (only their factors differ)."""
    arrays = ArchArrays.from_arch(arch)
    templates: dict[tuple, Template] = {}
    for m in candidates:
        key = structure(m, arch)
        if key not in templates:
            templates[key] = Template.from_mapping(m, arch, arrays)
        t = templates[key]
        if t.compile(t.factors_of(m, arch)[None])[1][0]:
            return m
    raise MappingError(f"no {what} fits the buffer of '{arch.name}'")


def fusemax(c: Cascade | None, head_dim: int, seq: int, instances: int, arch,
            interleaved: bool = True) -> Mapping:
    """FuseMax's mapping of the 1-pass cascade (interleaved binding unless told otherwise)."""
    c = c or load("one_pass")
    return one_pass_on_arrays(c, head_dim, seq, instances, arch, FUSEMAX_2D, FUSEMAX_KEEP,
                              fused_stages(c) if interleaved else ARCHITECTURE_PHASES,
                              serial=() if interleaved else ("LM",))


def one_pass_on_arrays(c: Cascade, head_dim: int, seq: int, instances: int, arch,
                       on_2d: tuple[str, ...], keep: dict[str, str], stages: tuple[Stage, ...],
                       serial: tuple[str, ...] = (),
                       forward: dict[str, tuple[str, ...]] | None = None,
                       sizing=None) -> Mapping:
    """The 1-pass cascade on a 2D + 1D array under FuseMax's nest (DRAM: P2, M1; buffer: P1,
    then M0 x P0 across the PEs, E and F in time): `on_2d` Einsums on the 2D array, the rest on
    the 1D one; `serial` Einsums run their M0 loop in time (one PE walks a column); `forward`
    tensors stream from their producer's PEs to the named consumers. P1 is the largest that
    fits the buffer of `sizing` (default: `arch`)."""
    side = array_side(arch)
    if seq % side:
        raise MappingError(f"sequence length {seq} is not a multiple of the array side {side}")
    shapes = {"e": head_dim, "f": head_dim, "m": seq, "p": seq, "m0": side}
    binding = {e.key: ("pe2d" if e.key in on_2d else "pe1d")
               for e in c.einsums if e.kind != "init"}

    def candidate(p1: int) -> Mapping:
        nest = (Level("dram", (Loop("p", seq // side // p1), Loop("m1", seq // side))),
                Level("global_buffer", (Loop("p", p1), Loop("m0", side, True),
                                        Loop("p", side, True), Loop("e", head_dim),
                                        Loop("f", head_dim))))
        m = shared_nest_mapping(c, shapes, binding, nest, keep, stages, instances)
        m = replace(m, einsums=tuple(_stream_out(em) if em.einsum == "AV" else em
                                     for em in m.einsums))
        m = replace(m, einsums=tuple(_serial_reduction(em) if em.einsum in serial else em
                                     for em in m.einsums))
        if forward:
            m = replace(m, fusion=tuple(replace(g, forward=forward) for g in m.fusion))
        return m

    return first_fitting(map(candidate, _divisors_desc(seq // side)), sizing or arch,
                         f"P1 for E={head_dim}, M=P={seq}")


#: phases of an epoch without the interleaved binding (FuseMax artifact, stall_proposal.py,
#: docs/fusemax-artifact-model.md section 3): each phase overlaps its 2D and 1D work
ARCHITECTURE_PHASES = (
    Stage(("BQK", "RD[m1+1]", "AV"), "pipelined", 0),
    Stage(("LM",)),
    Stage(("RM[m1+1]",)),
    Stage(("SLN", "SLD", "PRM", "SPD"), "pipelined", 0),
    Stage(("SLNV", "SPNV", "RNV[m1+1]"), "pipelined", 0),
)


def _stream_out(em: EinsumMapping) -> EinsumMapping:
    """The attention output streams from the 1D array to DRAM past the buffer (the artifact's
    AV Einsum keeps AV at DRAM only, docs/fusemax-artifact-model.md 2.1): it takes no room
    there, which is what lets P1 reach the artifact's value when the buffer is small."""
    return replace(em, bypass={"AV": ("global_buffer",)})


def _serial_reduction(em: EinsumMapping) -> EinsumMapping:
    """The same Einsum with its spatial M0 loop run in time (a serial reduction)."""
    return replace(em, levels=tuple(
        replace(lv, loops=tuple(replace(lp, spatial=False) if lp.rank == "m0" else lp
                                for lp in lv.loops)) for lv in em.levels))


def fusemax_skeleton(arch) -> Skeleton:
    """FuseMax's nest with its factors left free: P over DRAM, buffer and PE columns, the M1
    steps streamed from DRAM, M0 over PE rows, E and F in time."""
    del arch  # the structure is the same on every spatial preset; factors adapt to it
    return Skeleton((
        ("dram", (("p", False), ("m1", False))),
        ("global_buffer", (("p", False), ("m0", True), ("p", True), ("e", False),
                           ("f", False))),
    ))


def search_one_pass(head_dim: int, seq: int, instances: int, arch, *, bindings: int = 16,
                    budget: int = 2_000_000, metric: str = "latency", seed: int = 0,
                    progress=None) -> SearchResult:
    """Search tile factors and bindings of the 1-pass cascade on a spatial array, FuseMax's
    binding among the candidates."""
    c = load("one_pass")
    side = array_side(arch)
    shapes = {"e": head_dim, "f": head_dim, "m": seq, "p": seq, "m0": min(side, seq)}
    hand = {e.key: ("pe2d" if e.key in FUSEMAX_2D else "pe1d") for e in c.einsums
            if e.kind != "init"}
    return search(c, shapes, arch, [fusemax_skeleton(arch)],
                  candidate_bindings(c, arch, bindings, seed, must=[hand]), keep=FUSEMAX_KEEP,
                  instances=instances, metric=metric, budget=budget, progress=progress)


def linear_layer(d_in: int, d_out: int, tokens: int, arch) -> Mapping:
    """A GEMM on the 2D array, weight-stationary in the buffer: the array spans (i, o) tiles of
    its side, tokens stream through in the largest tile that fits; a weight too large for the
    buffer is split over its outputs (each slice resident while all tokens pass)."""
    c = load("gemm")
    side = array_side(arch)
    si, so = min(side, d_in), min(side, d_out)
    if d_in % si or d_out % so:
        raise MappingError(f"features {d_in} x {d_out} are not multiples of the array side {side}")

    def candidate(o_blocks: int, inner: int) -> Mapping:
        nest = (Level("dram", (Loop("o", o_blocks), Loop("n", tokens // inner))),
                Level("global_buffer", (Loop("i", d_in // si), Loop("o", d_out // so // o_blocks),
                                        Loop("i", si, True), Loop("o", so, True),
                                        Loop("n", inner))))
        return shared_nest_mapping(c, {"n": tokens, "i": d_in, "o": d_out}, {"Z": "pe2d"}, nest)

    return first_fitting((candidate(b, inner) for b in reversed(_divisors_desc(d_out // so))
                          for inner in _divisors_desc(tokens)), arch,
                         f"token tile for a {d_in} x {d_out} layer")


def encoder_linear_layers(hidden: int, ffn: int, tokens: int, arch) -> dict[str, Mapping]:
    """The non-attention GEMMs of one encoder layer: Q, K, V and output projections, FFN."""
    sizes = {"q_proj": (hidden, hidden), "k_proj": (hidden, hidden), "v_proj": (hidden, hidden),
             "out_proj": (hidden, hidden), "ffn1": (hidden, ffn), "ffn2": (ffn, hidden)}
    return {name: linear_layer(i, o, tokens, arch) for name, (i, o) in sizes.items()}


def unfused(head_dim: int, seq: int, instances: int, arch) -> Mapping:
    """The unfused baseline: QK on the 2D array to DRAM, the 3-pass softmax on the 1D array
    (a row of scores staged in the buffer once for its max and exponentials; the max, the
    numerators and the sum stay there, the sum taking the numerators as they are made; A back
    to DRAM), then AV on the 2D array. QK and A stream between DRAM and the arrays past the
    buffer (bypass). The softmax's Einsums take turns (one pipelined stage of one epoch: its memory time overlaps its compute).
    Each matmul streams the key rank in as few DRAM blocks as the buffer allows."""
    c = load("three_pass")
    side = array_side(arch)
    if seq % side:
        raise MappingError(f"sequence length {seq} is not a multiple of the array side {side}")
    shapes = {"e": head_dim, "f": head_dim, "m": seq, "p": seq}
    buffer = "global_buffer"
    softmax = ("GM", "SN", "SD", "A")
    row = (Level("dram", (Loop("p", seq),)),
           Level(buffer, (Loop("m", seq // side), Loop("m", side, True))))
    fusion = (FusionGroup(softmax, {t: buffer for t in ("GM", "SN", "SD")}, {"QK": buffer},
                          {"SN": ("SD",)}),)
    stages = (Stage(("QK",)), Stage(softmax, "pipelined", 1), Stage(("AV",)))

    def candidate(blocks: int) -> Mapping:
        def matmul(key: str, red: str, streamed: str) -> EinsumMapping:
            return EinsumMapping(key, "pe2d", (
                Level("dram", (Loop("m", blocks), Loop("p", seq // side))),
                Level(buffer, (Loop("m", seq // side // blocks), Loop("p", side, True),
                               Loop("m", side, True), Loop(red, head_dim)))),
                {streamed: (buffer,)})
        ems = (matmul("QK", "e", "QK"),) + tuple(
            EinsumMapping(k, "pe1d", row, {"A": (buffer,)} if k == "A" else {})
            for k in softmax) + (matmul("AV", "f", "A"),)
        return Mapping(c, shapes, ems, fusion, stages, instances)

    return first_fitting(map(candidate, reversed(_divisors_desc(seq // side))), arch,
                         f"key blocking for E={head_dim}, M=P={seq}")
