"""Template reuse across architectures of one topology checks each one's own capacities; one
Template compiles a family of mappings (their shapes, instances and rounds as rows) as each
alone."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from mappers import compile as comp
from mappers.mapping import MappingError
from mappers.plain import costs, resident_bytes
from studies.evaluate import DESIGNS
from studies.workloads import model


def test_reused_template_checks_the_new_capacity_and_scores_alike():
    big = load_arch("fusemax")
    small = load_arch("fusemax", ["global_buffer.capacity=256KiB"])
    fast = load_arch("fusemax", ["dram.bandwidth=1TB/s"])
    m = DESIGNS["fusemax"].build(model("bert"), 16384, big)  # P1 sized for 16 MiB
    comp.compile_mapping(m, big, ArchArrays.from_arch(big))
    with pytest.raises(MappingError, match="capacity"):
        comp.compile_mapping(m, small, ArchArrays.from_arch(small))
    arrays = ArchArrays.from_arch(fast)
    cached = estimate(arrays, comp.compile_mapping(m, fast, arrays)).latency_s[0]
    comp._TEMPLATES.clear()
    fresh = estimate(arrays, comp.compile_mapping(m, fast, arrays)).latency_s[0]
    assert cached == fresh


def family_members():
    """Mappings of one family each: FA2 and FA3 tiles and CTAs per SM (shapes, waves, FA3's
    fixed epochs per KV tile differ), Flash-Decoding splits (each stage its own waves)."""
    from mappers import gpu

    h100 = load_arch("h100")
    a = gpu.Attention(2, 16, 128, 4096)
    d = gpu.Attention(1, 32, 128, 1, keys=8192)
    return h100, {
        "fa2": [gpu.one_pass(a, h100, 64, 16, "fa2", 2), gpu.one_pass(a, h100, 128, 32),
                gpu.one_pass(a, h100, 64, 128, "fa2", 2), gpu.one_pass(a, h100, 128, 256)],
        "fa3": [gpu.one_pass(a, h100, 128, 32, "fa3", 2), gpu.one_pass(a, h100, 256, 64, "fa3"),
                gpu.one_pass(a, h100, 256, 256, "fa3", 2)],
        "split_k": [gpu.split_k(d, h100, s, 128) for s in (3, 5, 9, 21)]}


@pytest.mark.parametrize("name", ["fa2", "fa3", "split_k"])
def test_one_family_compiles_as_rows_of_one_template(name):
    # shapes, instances and rounds (the mapping's and each stage's) and fixed epochs are a
    # mapping's rows: one Template compiles the family, each row equal to the mapping alone
    arch, members = family_members()
    ms = members[name]
    arrays = ArchArrays.from_arch(arch)
    assert len({comp.family(m, arch) for m in ms}) == 1
    assert len({comp.structure(m, arch) for m in ms}) == len(ms)
    t = comp.Template.from_mapping(ms[0], arch, arrays)
    foot = np.zeros((len(ms), len(arrays.levels)))
    batch, valid = t.compile(np.stack([t.factors_of(m, arch) for m in ms]), footprint=foot,
                             rows=comp.Rows.stack([comp.rows_of(m, arrays) for m in ms]))
    together = estimate(arrays, batch)
    for i, m in enumerate(ms):
        own = comp.Template.from_mapping(m, arch, arrays)
        alone, ok = own.compile(own.factors_of(m, arch)[None])
        for f in fields(alone):
            want = getattr(alone, f.name)
            got = np.broadcast_to(getattr(batch, f.name), (len(ms),) + want.shape[1:])[i]
            assert np.array_equal(got, want[0]), f.name
        assert valid[i] == ok[0]
        assert together.latency_s[i] == estimate(arrays, alone).latency_s[0]
        assert dict(zip(arrays.levels, foot[i])) == resident_bytes(costs(m, arch))
    assert name == "split_k" or not valid.all()  # a tile past shared memory, as alone
    with pytest.raises(MappingError, match="rows for"):
        t.compile(np.stack([t.factors_of(m, arch) for m in ms]),
                  rows=comp.rows_of(ms[0], arrays))


def same(a, b) -> bool:
    """Equal field by field (arrays element by element, dataclasses recursively)."""
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in fields(a))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", ["fa2", "fa3", "split_k"])
def test_a_template_from_the_family_cache_is_the_one_built_afresh(name):
    # a sweep over shapes meets new members of a family: the cached Template, made the
    # member's (its loops, shapes, rows and the new capacities), is what building it gives
    arch, members = family_members()
    arrays = ArchArrays.from_arch(arch)
    first, *rest = members[name]
    comp._TEMPLATES.clear()
    comp.Template.from_mapping(first, arch, arrays)
    for m in rest:
        cached = comp.Template.from_mapping(m, arch, arrays)
        built = comp.Template._build(m, arch, arrays)
        assert all(same(getattr(cached, f.name), getattr(built, f.name))
                   for f in fields(built) if f.name != "_identity")
    assert len(comp._TEMPLATES) == 1


def test_a_cached_family_still_refuses_a_member_with_too_many_pes():
    # the plain model's per-member check (PEs used) holds on a cache hit, in its words
    from mappers import gpu

    h100 = load_arch("h100")
    arrays = ArchArrays.from_arch(h100)
    a = gpu.Attention(2, 16, 128, 4096)
    comp.Template.from_mapping(gpu.one_pass(a, h100, 128, 64), h100, arrays)
    m = gpu.one_pass(a, h100, 128, 64)
    wide = replace(m, parallel_instances=4 * m.parallel_instances,
                   stages=tuple(replace(st, parallel_instances=0) for st in m.stages))
    assert comp.family(wide, h100) == comp.family(m, h100)
    with pytest.raises(MappingError, match="spatial loops use"):
        costs(wide, h100)
    with pytest.raises(MappingError, match="spatial loops use"):
        comp.Template.from_mapping(wide, h100, arrays)
