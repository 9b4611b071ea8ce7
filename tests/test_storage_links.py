"""Link traffic from tensor homes (Mapping.home): hand-computed bytes, and plain == Numba."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from einsum_cascades import parse
from mappers.compile import Template, compile_mapping
from mappers.mapping import EinsumMapping, Level, Loop, Mapping, MappingError, route
from mappers.plain import costs, evaluate

#: a drive (flash -> drive DRAM -> engine) and a GPU (hbm -> buf -> pe), joined through host
#: DRAM by two links; 1 Hz clocks and small bandwidths so times are easy to read
TWO_TREES = """
attnsim_spec: 1
name: two_trees
substrate: storage
components:
  flash:  {kind: memory, class: nand, bandwidth: 8B/s}
  ddram:  {kind: memory, class: dram, parent: flash, capacity: 1KB, bandwidth: 16B/s}
  engine: {kind: compute, parent: ddram, shape: [4], frequency: 1Hz, ops: {mac: 1}}
  host:   {kind: memory, class: ddr4, bandwidth: 64B/s}
  hbm:    {kind: memory, class: hbm3, bandwidth: 32B/s}
  buf:    {kind: memory, class: sram, parent: hbm, capacity: 1KB}
  pe:     {kind: compute, parent: buf, shape: [4], frequency: 1Hz, ops: {mac: 1}}
  x4:     {kind: link, between: [ddram, host], bandwidth: 2B/s}
  x16:    {kind: link, between: [host, hbm], bandwidth: 4B/s}
"""


@pytest.fixture
def arch(tmp_path):
    f = tmp_path / "two.yaml"
    f.write_text(TWO_TREES)
    a = load_arch(f)
    return a, ArchArrays.from_arch(a)


def gemv(unit: str, root: str, last: str, home: dict[str, str]) -> Mapping:
    """Z[n] = W[n,k] * X[k] with n = 4 spread over the PEs and k = 8 in time."""
    c = parse("Z[n] = W[n,k] * X[k]")
    return Mapping(c, {"n": 4, "k": 8}, (EinsumMapping(
        "Z", unit, (Level(root), Level(last, (Loop("n", 4, True), Loop("k", 8))))),),
        home=home)


def test_route_finds_the_nearest_path_memory(arch):
    a, _ = arch
    r = route(a, "hbm", ("flash", "ddram"))
    assert (r.entry, r.memories, r.links) == (1, ("hbm", "host", "ddram"), ("x16", "x4"))
    assert route(a, "flash", ("flash", "ddram")).memories == ()
    with pytest.raises(MappingError, match="not a memory"):
        route(a, "nowhere", ("flash", "ddram"))


def test_engine_reads_x_from_the_gpu_over_both_links(arch):
    # X (8 words = 16 B) lives in the GPU's HBM; the engine's path is flash -> ddram. X enters at
    # ddram: flash sees none of it; the 16 B are read at hbm, pass host (read + write), cross x16
    # and x4, and are written at ddram. Z (8 B) goes home the same way back. W (64 B) streams
    # from flash as usual. Link times: x4 (16 + 8) B / 2 B/s = 12 s, the slowest transfer.
    a, arr = arch
    m = gemv("engine", "flash", "ddram", {"X": "hbm", "Z": "hbm"})
    plain = costs(m, a)["Z"]
    assert plain.read_bytes["flash"] == 64 and plain.write_bytes["flash"] == 0
    assert plain.link_bytes == {"x16": 24, "x4": 24}
    assert plain.read_bytes["hbm"] == 16 and plain.write_bytes["hbm"] == 8
    assert plain.read_bytes["host"] == 24 and plain.write_bytes["host"] == 24
    r = estimate(arr, compile_mapping(m, a, arr))
    for lvl in arr.levels:
        assert r.read_bytes[0, arr.levels.index(lvl)] == plain.read_bytes.get(lvl, 0.0)
        assert r.write_bytes[0, arr.levels.index(lvl)] == plain.write_bytes.get(lvl, 0.0)
    for k, link in enumerate(arr.links):
        assert r.link_bytes[0, k] == plain.link_bytes[link]
    assert r.latency_s[0] == pytest.approx(12.0)
    assert evaluate(m, a)["latency_s"] == pytest.approx(12.0)


def test_gpu_streams_w_from_flash_and_default_homes_are_unchanged(arch):
    # W (64 B) homed in flash reaches the GPU's hbm over x4 and x16: 64 B / 2 B/s = 32 s. At
    # home in hbm instead: 88 B there / 32 B/s = 2.75 s, under the 32 MACs / 4 PEs = 8 s.
    a, arr = arch
    m = gemv("pe", "hbm", "buf", {"W": "flash"})
    r = estimate(arr, compile_mapping(m, a, arr))
    assert dict(zip(arr.links, r.link_bytes[0])) == {"x16": 64, "x4": 64}
    assert r.latency_s[0] == pytest.approx(32.0)
    home = estimate(arr, compile_mapping(gemv("pe", "hbm", "buf", {}), a, arr))
    assert home.link_bytes.sum() == 0 and home.transfer_s[0] == pytest.approx(88 / 32) \
        and home.latency_s[0] == pytest.approx(8.0)


def test_numba_equals_plain_with_homes_over_many_tilings(arch):
    a, arr = arch
    rng = np.random.default_rng(0)
    for _ in range(12):
        k0 = int(rng.choice([1, 2, 4, 8]))
        home = {t: str(rng.choice(["flash", "hbm", "host"])) for t in ("W", "X", "Z")
                if rng.random() < 0.7}
        c = parse("Z[n] = W[n,k] * X[k]")
        m = Mapping(c, {"n": 4, "k": 8}, (EinsumMapping("Z", "engine", (
            Level("flash", (Loop("k", 8 // k0),)),
            Level("ddram", (Loop("n", 4, True), Loop("k", k0))))),), home=home)
        plain = costs(m, a)["Z"]
        t = Template.from_mapping(m, a, arr)
        batch, valid = t.compile(t.factors_of(m, a)[None])
        assert valid[0]
        for lvl in arr.levels:
            j = arr.levels.index(lvl)
            assert batch.read_bytes[0, 0, j] == plain.read_bytes.get(lvl, 0.0)
            assert batch.write_bytes[0, 0, j] == plain.write_bytes.get(lvl, 0.0)
        for k, link in enumerate(arr.links):
            assert batch.link_bytes[0, 0, k] == plain.link_bytes.get(link, 0.0)
        assert estimate(arr, batch).latency_s[0] == pytest.approx(evaluate(m, a)["latency_s"])
