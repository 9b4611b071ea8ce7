"""The bulk GPU tile search (mappers.gpu.best_of, flash) against the reference loop it replaced:
one candidate at a time, the occupancy from the plain model's footprints, one Template and one
estimator call per candidate. Same tiles, occupancy, latency, mapping and candidates tried."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from einsum_cascades import parse
from mappers import gpu
from mappers.compile import Template
from mappers.gpu import Attention
from mappers.mapping import EinsumMapping, Level, Loop, Mapping, MappingError
from mappers.plain import costs, resident_bytes


def reference_best_of(candidates, arch) -> gpu.Choice:
    """Score each (tiles, builder, occupancy) candidate alone and keep the first fastest."""
    arrays = ArchArrays.from_arch(arch)
    best, tried = None, 0
    for tiles, build, occupancy in candidates:
        tried += 1
        try:
            mp = build()
            t = Template.from_mapping(mp, arch, arrays)
            batch, valid = t.compile(t.factors_of(mp, arch)[None])
        except MappingError:
            continue
        if not valid[0]:
            continue
        lat = float(estimate(arrays, batch).latency_s[0])
        if best is None or lat < best.latency_s:
            best = gpu.Choice(mp, tiles, occupancy, lat, 0)
    if best is None:
        raise MappingError(f"no tile size fits the shared memory, registers and L2 of "
                           f"'{arch.name}'")
    best.tried = tried
    return best


def reference_occupancy(m, arch) -> int:
    """CTAs per SM from the plain model's shared-memory and register footprints, at most the
    SM's resident-CTA limit."""
    foot = resident_bytes(costs(m, arch))
    limit = gpu.max_ctas_per_sm(arch)
    return min([limit] + [int(arch.memories[lv].capacity_bytes // foot[lv])
                          for lv in ("smem", "registers") if foot[lv]])


def reference_flash(a: Attention, arch, kind: str = "fa2") -> gpu.Choice:
    """FA2/FA3's search as one loop over (Br, Bc, CTAs per SM)."""
    def candidates():
        low = gpu.MIN_BR[kind]
        for br in (b for b in gpu.TILE_EDGES if b == low or low < b <= a.seq):
            for bc in gpu._edges(a.m):
                try:
                    occ = reference_occupancy(gpu.one_pass(a, arch, br, bc, kind), arch)
                except MappingError:
                    continue
                if kind == "fa3":
                    occ = min(occ, 1)
                for k in (k for k in (1, 2, 4, 8, 16, 32) if k <= occ):
                    yield (br, bc), (lambda br=br, bc=bc, k=k: gpu.one_pass(a, arch, br, bc,
                                                                            kind, k)), k
    return reference_best_of(candidates(), arch)


def reference_lean(a: Attention, arch) -> gpu.Choice:
    """LeanAttention's KV-tile search as one loop."""
    return reference_best_of([((bc,), (lambda bc=bc: gpu.stream_k(a, arch, bc)), 1)
                              for bc in (64, 128, 256) if a.m % bc == 0], arch)


def same(got: gpu.Choice, want: gpu.Choice) -> None:
    assert (got.tiles, got.occupancy, got.tried) == (want.tiles, want.occupancy, want.tried)
    assert got.latency_s == want.latency_s
    assert got.mapping == want.mapping


#: prefill shapes of the tests and studies: head dims, lengths, causal, GQA, tiny and decode
PREFILL = [Attention(2, 16, 128, 1024), Attention(2, 16, 128, 16384),
           Attention(2, 16, 128, 16384, causal=True), Attention(2, 32, 64, 4096),
           Attention(2, 8, 256, 2048), Attention(3, 5, 128, 48),
           Attention(2, 32, 128, 4096, kv_heads=8),
           Attention(1, 32, 128, 1, keys=4096), Attention(16, 16, 64, 512, causal=True)]


@pytest.mark.parametrize("arch_name, kind", [("h100", "fa2"), ("h100", "fa3"), ("a100", "fa2"),
                                             ("b200", "fa2"), ("a6000", "fa2")])
def test_bulk_flash_search_matches_the_reference_loop(arch_name, kind):
    arch = load_arch(arch_name)
    for a in PREFILL:
        if a.head_dim not in gpu.HEAD_DIMS[kind]:
            continue
        same(gpu.flash(a, arch, kind), reference_flash(a, arch, kind))


def test_bulk_search_matches_when_shared_memory_limits_tiles():
    for smem in ("64KiB", "100KiB"):
        arch = load_arch("h100", [f"smem.capacity={smem}"])
        same(gpu.flash(Attention(2, 16, 128, 4096), arch), reference_flash(
            Attention(2, 16, 128, 4096), arch))
    arch = load_arch("h100", ["smem.capacity=8KiB"])
    with pytest.raises(MappingError, match="no tile size fits"):
        gpu.flash(Attention(2, 16, 128, 4096), arch)


@pytest.mark.parametrize("ctx", [4096, 32768])
def test_bulk_decode_searches_match_the_reference_loop(ctx):
    h100 = load_arch("h100")
    a = Attention(1, 32, 128, 1, keys=ctx)
    same(gpu.lean(a, h100), reference_lean(a, h100))
    bc = gpu.splitkv_block_n(128)
    s = gpu.num_splits(32, 2 * gpu.sms(h100), ctx // bc)
    same(gpu.flash_decoding(a, h100), reference_best_of(
        [((s, bc), lambda: gpu.split_k(a, h100, s, bc), 1)], h100))


def test_occupancy_comes_from_the_compiled_footprints():
    h100 = load_arch("h100")
    a = Attention(2, 16, 64, 4096)
    ms = [gpu.one_pass(a, h100, br, bc) for br in (64, 128, 256) for bc in (32, 128)]
    assert list(gpu.occupancy(ms, h100)) == [reference_occupancy(m, h100) for m in ms]


def test_scores_reject_what_the_plain_model_rejects(tmp_path):
    # one structure, two spatial factors over a 4-PE unit: 4 fits, 8 uses more PEs than there
    # are (the plain model raises): it neither fits nor has a footprint, whichever comes first
    f = tmp_path / "a.yaml"
    f.write_text("""
attnsim_spec: 1
name: four
components:
  dram:   {kind: memory, class: dram, bandwidth: 1TB/s}
  buffer: {kind: memory, class: sram, parent: dram, capacity: 1KiB}
  u1: {kind: compute, parent: buffer, shape: [4], frequency: 1Hz, ops: {mul: 1}}
""")
    a = load_arch(f)
    arrays = ArchArrays.from_arch(a)
    c = parse("Y[m] = A[m] * B[m]")

    def spread(n: int) -> Mapping:
        return Mapping(c, {"m": 16}, (EinsumMapping("Y", "u1", (
            Level("dram"), Level("buffer", (Loop("m", n, True),)))),))

    with pytest.raises(MappingError, match="PEs"):
        costs(spread(8), a)
    buffer = arrays.levels.index("buffer")
    idle = replace(spread(4), parallel_instances=0)  # no instance ever runs: an error
    for order in ([4, 8], [8, 4]):
        latency, fits, foot = gpu.scores([spread(n) for n in order] + [None, idle], a, arrays)
        i4, i8 = order.index(4), order.index(8)
        assert fits.tolist() == [n == 4 for n in order] + [False, False]
        assert latency[i4] == 4.0 and np.isinf(latency[[i8, 2, 3]]).all()  # 16 muls, 4 PEs
        assert foot[i4, buffer] == resident_bytes(costs(spread(4), a))["buffer"] == 3 * 16 * 2
        assert np.isnan(foot[[i8, 2, 3]]).all()
