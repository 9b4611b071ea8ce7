"""The estimator core with hand-computed answers, and the Numba path against the plain one."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from einsum_cascades import parse
from mappers.compile import Template, compile_mapping
from mappers.mapping import EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError, Stage
from mappers.plain import costs, evaluate, resident_bytes

GEMM_ARCH = """
attnsim_spec: 1
name: gemm4x4
components:
  dram:   {kind: memory, class: dram, bandwidth: 8B/s}
  buffer: {kind: memory, class: sram, parent: dram, capacity: CAPACITY}
  pe:     {kind: compute, parent: buffer, shape: [4, 4], frequency: 1Hz, ops: {mac: 1}}
"""


def arch_from(tmp_path, text: str, name: str = "a.yaml"):
    f = tmp_path / name
    f.write_text(text)
    a = load_arch(f)
    return a, ArchArrays.from_arch(a)


def gemm_mapping(dram_loops, buffer_loops):
    c = parse("Z[m,n] = A[m,k] * B[k,n]")
    return Mapping(c, {"m": 8, "n": 8, "k": 4}, (EinsumMapping(
        "Z", "pe", (Level("dram", dram_loops), Level("buffer", buffer_loops))),))


def test_gemm_on_4x4_array(tmp_path):
    # Z[8,8] = A[8,4] B[4,8], 16-bit words, a 4x4 array at 1 Hz (cycles = seconds), 8 B/s DRAM.
    # DRAM loops m1=2, n1=2 (n1 innermost); buffer: m0=4 and n0=4 spatial, k=4 temporal.
    # Buffer tiles: A 4x4, B 4x4, Z 4x4 = 48 words = 96 B: exactly the capacity.
    # DRAM -> buffer: A's tile changes with m1 only (n1 inside reuses it): 2 x 16 x 2 B = 64 B;
    #   B's with m1 and n1: 4 x 16 x 2 B = 128 B; Z written once per (m1, n1): 128 B.
    #   320 B / 8 B/s = 40 s.
    # Buffer -> PEs: each PE gets one A and one B word per (m1, n1, k) step: A 2*2*4 steps x 4
    #   rows (n0 multicasts) = 64 words = 128 B, B likewise 128 B; Z stays in the PE across k
    #   (output stationary) and leaves once per (m1, n1): 64 words = 128 B.
    # Compute: 8*8*4 = 256 MACs on 16 PEs = 16 cycles = 16 s. Latency max(16, 40) = 40 s.
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "96B"))
    m = gemm_mapping((Loop("m", 2), Loop("n", 2)),
                     (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 4)))
    r = estimate(arr, compile_mapping(m, a, arr))
    dram, buf = arr.levels.index("dram"), arr.levels.index("buffer")
    assert r.read_bytes[0, dram] == 192 and r.write_bytes[0, dram] == 128
    assert r.read_bytes[0, buf] == 128 + 128 + 128   # to the PEs, and Z up to DRAM
    assert r.write_bytes[0, buf] == 192 + 128        # fills from DRAM, Z from the PEs
    assert r.latency_s[0] == pytest.approx(40.0)
    assert r.compute_s[0] == pytest.approx(16.0) and r.transfer_s[0] == pytest.approx(40.0)
    assert r.ideal_s[0] == pytest.approx(16.0)
    assert r.utilisation[0, 0] == pytest.approx(256 / (16 * 40))
    assert r.busy_cycles[0, 0] == pytest.approx(16)
    assert r.actions[0, 0, arr.actions.index("mac")] == 256
    assert evaluate(m, a)["latency_s"] == pytest.approx(40.0)


def test_attainable_share_caps_the_busy_pes_in_both_paths(tmp_path):
    # the same GEMM with DRAM free (8 TB/s): 256 MACs on 16 PEs take 16 s; a unit that sustains
    # 3/4 of its PEs (spec `attainable`) keeps at most 12 busy: 256 / 12 s; the ideal time
    # stays at the peak (16 s), utilisation is against the peak PEs
    text = GEMM_ARCH.replace("CAPACITY", "96B").replace("8B/s", "8TB/s")
    m = gemm_mapping((Loop("m", 2), Loop("n", 2)),
                     (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 4)))
    for share, latency in ((None, 16.0), (0.75, 256 / 12)):
        body = text if share is None else text.replace("ops: {mac: 1}",
                                                       f"attainable: {share}, ops: {{mac: 1}}")
        a, arr = arch_from(tmp_path, body)
        r = estimate(arr, compile_mapping(m, a, arr))
        assert r.latency_s[0] == pytest.approx(latency, rel=1e-6)
        assert r.ideal_s[0] == pytest.approx(16.0)
        assert r.utilisation[0, 0] == pytest.approx(256 / (16 * latency))
        assert evaluate(m, a)["latency_s"] == pytest.approx(latency, rel=1e-6)


def test_gemm_partial_sums_and_capacity(tmp_path):
    # k split 2 x 2 with k1 outermost at DRAM: Z's tile leaves the buffer once per (k1, m1, n1)
    # = 8 times (256 B written) and, after the first k1, its partial sums come back: 128 B read.
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "96B"))
    m = gemm_mapping((Loop("k", 2), Loop("m", 2), Loop("n", 2)),
                     (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 2)))
    r = estimate(arr, compile_mapping(m, a, arr))
    dram = arr.levels.index("dram")
    # A: k1, m1 relevant, last is m1: 4 deliveries of a 4x2 tile = 64 B; B: 8 x 8 words = 128 B
    assert r.write_bytes[0, dram] == 256
    assert r.read_bytes[0, dram] == 64 + 128 + 128
    # the 96 B buffer cannot hold the 4x4 tiles of the first mapping with one byte less
    a2, arr2 = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "95B"), "b.yaml")
    first = gemm_mapping((Loop("m", 2), Loop("n", 2)),
                         (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 4)))
    with pytest.raises(MappingError, match="capacity"):
        compile_mapping(first, a2, arr2)


CHAIN_ARCH = """
attnsim_spec: 1
name: chain
components:
  dram:   {kind: memory, class: dram, bandwidth: 16B/s}
  buffer: {kind: memory, class: sram, parent: dram, capacity: 1KiB}
  u1: {kind: compute, parent: buffer, frequency: 1Hz, ops: {mul: 1}}
  u2: {kind: compute, parent: buffer, frequency: 1Hz, ops: {add: 2}}
"""


def chain_mapping(stages):
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    return Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest)),
                   (FusionGroup(("Y", "Z"), {"Y": "buffer"}),), stages)


@pytest.mark.parametrize("stages, latency", [
    # Y: 8 muls = 8 s on u1, reads A and B (32 B = 2 s); Z: 8 adds x 2 cycles = 16 s on u2,
    # reads C and writes Z (32 B = 2 s); Y stays in the buffer.
    ((), 8 + 16),                                                  # sequential: 8 + 16
    ((Stage(("Y", "Z"), "pipelined", 1),), 8 + 16),               # one epoch: units take turns
    # 8 epochs: fill + steady + drain = (8 + 16)/8 + 7 * 16/8 = 17 s; DRAM 64 B = 4 s overlapped
    ((Stage(("Y", "Z"), "pipelined", 8),), 17),
])
def test_fused_chain_sequential_vs_pipelined(tmp_path, stages, latency):
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    m = chain_mapping(stages)
    r = estimate(arr, compile_mapping(m, a, arr))
    assert r.latency_s[0] == pytest.approx(latency)
    assert r.read_bytes[0, arr.levels.index("dram")] == 48   # A, B, C; never Y
    assert evaluate(m, a)["latency_s"] == pytest.approx(latency)


def test_numba_equals_plain_on_random_tilings(tmp_path):
    rng = np.random.default_rng(0)
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "1KiB"))
    divisors = {8: [1, 2, 4, 8], 4: [1, 2, 4]}
    shapes = {"m": 8, "n": 8, "k": 4}
    for _ in range(40):
        order = list(rng.permutation(["m", "n", "k"]))
        outer = {r: int(rng.choice(divisors[shapes[r]])) for r in order}
        sp = {r: int(rng.choice([d for d in divisors[shapes[r]] if d <= 4 and
                                 (shapes[r] // outer[r]) % d == 0])) for r in ("m", "n")}
        dram = tuple(Loop(r, outer[r]) for r in order)
        buf = (Loop("m", sp["m"], True), Loop("n", sp["n"], True)) + tuple(
            Loop(r, shapes[r] // outer[r] // sp.get(r, 1)) for r in rng.permutation(order))
        m = gemm_mapping(dram, buf)
        got = estimate(arr, compile_mapping(m, a, arr))
        plain = costs(m, a)["Z"]
        for lvl in arr.levels:
            assert got.read_bytes[0, arr.levels.index(lvl)] == plain.read_bytes[lvl]
            assert got.write_bytes[0, arr.levels.index(lvl)] == plain.write_bytes[lvl]
        assert footprints(m, a, arr) == resident_bytes(costs(m, a))
        assert got.latency_s[0] == pytest.approx(evaluate(m, a)["latency_s"])


def footprints(m: Mapping, a, arr) -> dict[str, float]:
    """The compiled path's resident bytes per memory level (the capacity check's sums)."""
    t = Template.from_mapping(m, a, arr)
    out = np.full((1, len(arr.levels)), -1.0)
    t.compile(t.factors_of(m, a)[None], footprint=out)
    return dict(zip(arr.levels, out[0].tolist()))


def test_template_scores_many_factor_choices(tmp_path):
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "96B"))
    m = gemm_mapping((Loop("m", 2), Loop("n", 2)),
                     (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 4)))
    t = Template.from_mapping(m, a, arr)
    f = np.repeat(t.factors_of(m, a)[None], 3, axis=0)
    f[1, 0, 0], f[1, 0, 2] = 4, 2          # m1=4, m0=2: valid and smaller tiles
    f[2, 0, 0] = 3                          # does not multiply to the shape
    batch, valid = t.compile(f)
    assert valid.tolist() == [True, True, False]
    r = estimate(arr, batch)
    assert r.latency_s[0] == pytest.approx(40.0)
    assert r.latency_s[1] != r.latency_s[0]


def test_gemm_energy_from_counts(tmp_path):
    # Energy = the estimator's counts . the price list (no estimator holds a constant):
    # 256 MACs at the FuseMax artifact's 17.1645 pJ, 320 DRAM bytes at 249.6 pJ / 8 B.
    from energy import energy_pj, price_list

    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "96B"))
    m = gemm_mapping((Loop("m", 2), Loop("n", 2)),
                     (Loop("m", 4, True), Loop("n", 4, True), Loop("k", 4)))
    r = estimate(arr, compile_mapping(m, a, arr))
    prices = price_list(a)
    assert prices.levels == arr.levels and prices.units == arr.units
    e = energy_pj(prices, r.actions, r.read_bytes, r.write_bytes, r.link_bytes)
    dram, buf = arr.levels.index("dram"), arr.levels.index("buffer")
    assert e["compute"][0, 0] == pytest.approx(256 * 17.1645, rel=1e-4)
    assert e["read"][0, dram] + e["write"][0, dram] == pytest.approx(320 * 249.6 / 8)
    buffer_pj = 384 * prices.read_pj_per_byte[buf] + 320 * prices.write_pj_per_byte[buf]
    assert e["read"][0, buf] + e["write"][0, buf] == pytest.approx(buffer_pj)
    assert e["total"][0] == pytest.approx(256 * 17.1645 + 320 * 31.2 + buffer_pj, rel=1e-4)


def test_bench_command_runs_and_paths_agree():
    # speed is a benchmark (tests/bench/), never asserted here: only that both paths agree
    from studies import bench

    r = bench.run(n=3000, python_n=20)
    assert r["paths_agree"] and r["n_mappings"] == 3000
    assert 0 < r["n_valid"] <= 3000 and np.isfinite(r["best_latency_s"])


def test_derived_epochs_follow_the_shared_loops(tmp_path):
    # epochs = 0: one epoch per iteration of the temporal loops on the ranks both Einsums share;
    # the chain's m loop of 8 gives the same 17 s as 8 explicit epochs, and with m split 2 x 4
    # across DRAM and buffer it is still 2 * 4 = 8 epochs.
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    m = chain_mapping((Stage(("Y", "Z"), "pipelined", 0),))
    assert estimate(arr, compile_mapping(m, a, arr)).latency_s[0] == pytest.approx(17)
    assert evaluate(m, a)["latency_s"] == pytest.approx(17)
    c = m.cascade
    nest = (Level("dram", (Loop("m", 2),)), Level("buffer", (Loop("m", 4),)))
    split = Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest)),
                    m.fusion, m.stages)
    t = Template.from_mapping(split, a, arr)
    batch, valid = t.compile(np.stack([t.factors_of(split, a), t.factors_of(m, a)]))
    assert valid.all() and batch.stage_epochs[:, 0].tolist() == [8.0, 8.0]


@pytest.mark.parametrize("stages, latency", [
    ((), 3 * 24),
    # 3 instances of 8 epochs pipeline as 24: (24 + 48)/24 + 23 * 48/24 = 3 + 46 s
    ((Stage(("Y", "Z"), "pipelined", 8),), 49),
    ((Stage(("Y", "Z"), "pipelined", 0),), 49),
])
def test_instances_scale_work_traffic_and_epochs(tmp_path, stages, latency):
    from dataclasses import replace

    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    m = replace(chain_mapping(stages), instances=3)
    r = estimate(arr, compile_mapping(m, a, arr))
    assert r.latency_s[0] == pytest.approx(latency)
    assert r.read_bytes[0, arr.levels.index("dram")] == 3 * 48
    assert evaluate(m, a)["latency_s"] == pytest.approx(latency)


def test_intermediate_kept_in_the_pes(tmp_path):
    # Y kept in the PEs: no buffer traffic and no buffer footprint for it; keeping it in a
    # memory off the Einsums' path is an error naming the tensor.
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    ems = (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest))

    def mapping(keep):
        return Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z"), {"Y": keep}),))

    buf = arr.levels.index("buffer")
    in_buffer = estimate(arr, compile_mapping(mapping("buffer"), a, arr))
    in_pes = estimate(arr, compile_mapping(mapping("pes"), a, arr))
    # in the buffer, Y is written once (16 B) and read once (16 B) more than in the PEs
    assert in_buffer.write_bytes[0, buf] - in_pes.write_bytes[0, buf] == 16
    assert in_buffer.read_bytes[0, buf] - in_pes.read_bytes[0, buf] == 16
    assert costs(mapping("pes"), a)["Y"].footprint["buffer"].get("Y") is None
    with pytest.raises(MappingError, match="'Y' is kept in 'nowhere'"):
        compile_mapping(mapping("nowhere"), a, arr)


def test_staged_operand_is_fetched_once_for_the_group(tmp_path):
    # Y and Z both read A (8 x 2 B); staged in the buffer for their group, only Y (the first
    # reader) fetches it from DRAM: 16 B instead of 32 B, and Z reads it from the buffer.
    a, arr = arch_from(tmp_path, CHAIN_ARCH.replace("ops: {add: 2}}", "ops: {add: 2, mul: 1}}"))
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = A[m] * C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    ems = (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest))
    dram = arr.levels.index("dram")

    def a_bytes(stage_in):
        m = Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z"), {}, stage_in),))
        per = costs(m, a)
        return per["Y"].read_bytes["dram"], per["Z"].read_bytes["dram"], \
            estimate(arr, compile_mapping(m, a, arr)).read_bytes[0, dram]

    assert a_bytes({}) == (32, 32, 64)                  # A and B; A and C
    assert a_bytes({"A": "buffer"}) == (32, 16, 48)     # Z reads only C from DRAM


def test_bypass_streams_past_a_level_in_both_paths(tmp_path):
    # Z bypasses the buffer: its 16 B go from the PEs straight to DRAM; the buffer sees none of
    # them, and the plain and Numba paths agree.
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    # Z reads Y and C through the buffer (16 B in, 16 B out each) and, without bypass, its own
    # 16 B pass through it on the way up
    for bypass, buffer_bytes in (({}, 96), ({"Z": ("buffer",)}, 64)):
        m = Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest),
                                  EinsumMapping("Z", "u2", nest, bypass)))
        plain = costs(m, a)["Z"]
        r = estimate(arr, compile_mapping(m, a, arr))
        buf, dram = arr.levels.index("buffer"), arr.levels.index("dram")
        assert plain.read_bytes["buffer"] + plain.write_bytes["buffer"] == buffer_bytes
        assert plain.write_bytes["dram"] == 16
        assert r.read_bytes[0, buf] + r.write_bytes[0, buf] == \
            buffer_bytes + costs(m, a)["Y"].read_bytes["buffer"] + costs(m, a)["Y"].write_bytes["buffer"]
        assert r.write_bytes[0, dram] == 16 + 16
    with pytest.raises(MappingError, match="bypasses 'dram'"):
        compile_mapping(Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest, {"Y": ("dram",)}),
                                              EinsumMapping("Z", "u2", nest))), a, arr)


def test_forwarded_operand_is_read_from_the_producers_pes(tmp_path):
    # Y is kept in the buffer, but Z takes it straight from Y's PEs: Z reads no Y from the
    # buffer (16 B less), in both paths
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    ems = (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest))
    buf = arr.levels.index("buffer")
    got = []
    for forward in ({}, {"Y": ("Z",)}):
        m = Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z"), {"Y": "buffer"},
                                                   forward=forward),))
        plain = costs(m, a)["Z"].read_bytes["buffer"]
        assert estimate(arr, compile_mapping(m, a, arr)).read_bytes[0, buf] == pytest.approx(
            plain + costs(m, a)["Y"].read_bytes["buffer"])
        got.append(plain)
    assert got[0] - got[1] == 16


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_spilled_share_streams_past_the_buffer_in_both_paths(tmp_path, share):
    # Y (8 x 2 B) is kept in the buffer; a share s of it spills to DRAM: Y's write by Y and
    # read by Z move s x 16 B each to DRAM and (1 - s) x 16 B stay at the buffer; its buffer
    # footprint shrinks to (1 - s) x 16 B, which the capacity check sees: a 64 B buffer holds
    # the 16 B tiles of A, B, C and Z, and Y's only when all of it spills.
    a, arr = arch_from(tmp_path, CHAIN_ARCH)
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    ems = (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest))
    m = Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z"), {"Y": "buffer"},
                                               spill={"Y": ("buffer", share)}),))
    per = costs(m, a)
    assert per["Y"].write_bytes["dram"] == pytest.approx(16 * share)
    assert per["Z"].read_bytes["dram"] == pytest.approx(16 + 16 * share)  # C, and Y's share
    assert per["Y"].footprint["buffer"]["Y"] == pytest.approx(16 * (1 - share))
    assert footprints(m, a, arr) == resident_bytes(per) == {"dram": 0.0,
                                                            "buffer": 64 + 16 * (1 - share)}
    r = estimate(arr, compile_mapping(m, a, arr))
    for lvl in ("dram", "buffer"):
        k = arr.levels.index(lvl)
        assert r.read_bytes[0, k] == pytest.approx(sum(x.read_bytes[lvl] for x in per.values()))
        assert r.write_bytes[0, k] == pytest.approx(sum(x.write_bytes[lvl] for x in per.values()))
    small, small_arr = arch_from(tmp_path, CHAIN_ARCH.replace("1KiB", "64B"), "small.yaml")
    t = Template.from_mapping(m, small, small_arr)
    assert t.compile(t.factors_of(m, small)[None])[1][0] == (share == 1.0)
    with pytest.raises(MappingError, match="spill share of 'Y'"):
        costs(Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z"), {"Y": "buffer"},
                                                     spill={"Y": ("buffer", 1.5)}),)), a)


def test_tensor_written_in_place_shares_its_hosts_footprint(tmp_path):
    # Z overwrites Y (both 16 B, kept in the buffer): in place they need 16 B, not 32 B, so a
    # 64 B buffer holds A, B, C and one of them; the traffic is unchanged
    a, arr = arch_from(tmp_path, CHAIN_ARCH.replace("1KiB", "64B").replace(
        "ops: {add: 2}}", "ops: {add: 2, mul: 1}}"))
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + C[m]\nW[m] = Z[m] * A[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    ems = (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u2", nest),
           EinsumMapping("W", "u2", nest, {"W": ("buffer",)}))
    fits = []
    for in_place in ({}, {"Z": "Y"}):
        m = Mapping(c, {"m": 8}, ems, (FusionGroup(("Y", "Z", "W"), {"Y": "buffer", "Z": "buffer"},
                                                   in_place=in_place),))
        t = Template.from_mapping(m, a, arr)
        batch, ok = t.compile(t.factors_of(m, a)[None])
        fits.append(bool(ok[0]))
        assert footprints(m, a, arr) == resident_bytes(costs(m, a)) == {
            "dram": 0.0, "buffer": 64.0 + (0 if in_place else 16)}
        plain = costs(m, a).values()
        assert batch.read_bytes.sum() == sum(sum(x.read_bytes.values()) for x in plain)
    assert fits == [False, True]
    with pytest.raises(MappingError, match="'X' .* is not a tensor"):
        Mapping(c, {"m": 8}, ems, (FusionGroup(("Y",), in_place={"Z": "X"}),)).space_of("Z")


PHASE_ARCH = """
attnsim_spec: 1
name: phases
components:
  dram:   {kind: memory, class: dram, bandwidth: 16B/s}
  buffer: {kind: memory, class: sram, parent: dram, capacity: 1KiB}
  rf:     {kind: memory, class: registers, parent: buffer, capacity: 1KiB}
  u1: {kind: compute, parent: rf, frequency: 1Hz, ops: {mul: 1}}
  u2: {kind: compute, parent: rf, frequency: 1Hz, ops: {add: 1}}
"""
#: Y and Z independent, W reads both: three Einsums to split into stages and fuse at will
PHASE_CASCADE = "Y[m] = A[m] * B[m]\nZ[m] = C[m] * D[m]\nW[m] = Y[m] + Z[m]"


def phase_mapping(fusion=(), stages=(), nest=None) -> Mapping:
    nest = nest or (Level("dram"), Level("buffer", (Loop("m", 8),)), Level("rf"))
    return Mapping(parse(PHASE_CASCADE), {"m": 8},
                   (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u1", nest),
                    EinsumMapping("W", "u2", nest)), fusion, stages)


@pytest.mark.parametrize("fusion, stages, phases, buffer", [
    # each Einsum its own stage and phase: the buffer holds one Einsum's three 16 B tiles at a
    # time (48 B), where summing over the mapping held all seven tensors (112 B)
    ((), (), [0, 1, 2], 48),
    # one stage: the three run together, every tile at once
    ((), (Stage(("Y", "Z", "W")),), [0, 0, 0], 112),
    # a fusion group over Y and W joins the stages between them (Z runs under the group's
    # loops): one phase, though three stages
    ((FusionGroup(("Y", "W")),), (), [0, 0, 0], 112),
    # Y and Z fused, W apart: A, B, C, D, Y, Z at once (96 B), then Y, Z, W
    ((FusionGroup(("Y", "Z")),), (), [0, 0, 1], 96),
    # Y kept in the buffer by a group of its own: it stays there while Z runs (phase 1 holds C,
    # D, Z and Y: 64 B) until W reads it
    ((FusionGroup(("Y",), {"Y": "buffer"}),), (), [0, 1, 2], 64),
])
def test_separate_phases_hold_a_memory_in_turn(tmp_path, fusion, stages, phases, buffer):
    a, arr = arch_from(tmp_path, PHASE_ARCH)
    m = phase_mapping(fusion, stages)
    assert [m.phases()[k] for k in "YZW"] == phases
    assert footprints(m, a, arr)["buffer"] == resident_bytes(costs(m, a))["buffer"] == buffer


def test_numba_equals_plain_footprints_over_random_phases(tmp_path):
    # random stages, fusion groups (with keeps at either memory) and tilings of the 3-Einsum
    # cascade: the compiled resident bytes equal mappers.plain.resident_bytes
    rng = np.random.default_rng(1)
    a, arr = arch_from(tmp_path, PHASE_ARCH)
    keys = ("Y", "Z", "W")
    for _ in range(60):
        cut = sorted(rng.choice([1, 2], int(rng.integers(0, 3)), replace=False).tolist())
        stages = tuple(Stage(keys[lo:hi]) for lo, hi in zip([0] + cut, cut + [3]))
        fusion = []
        for _ in range(int(rng.integers(0, 3))):
            members = tuple(k for k in keys if rng.random() < 0.5) or ("W",)
            keep = {t: str(rng.choice(["buffer", "rf"])) for t in ("Y", "Z")
                    if rng.random() < 0.5}
            fusion.append(FusionGroup(members, keep))
        outer = int(rng.choice([1, 2, 4, 8]))
        mid = int(rng.choice([d for d in (1, 2, 4, 8) if (8 // outer) % d == 0]))
        nest = (Level("dram", (Loop("m", outer),)), Level("buffer", (Loop("m", mid),)),
                Level("rf"))
        m = phase_mapping(tuple(fusion), stages, nest)
        assert footprints(m, a, arr) == resident_bytes(costs(m, a))


def test_threaded_chunks_score_as_one_run(monkeypatch):
    # compile and estimate split big batches over Numba's threads (row_chunks); every mapping is
    # scored on its own, so any split, uneven ones included, gives the one-run result exactly
    import archsim.estimator as est
    import mappers.compile as comp
    from studies import bench

    s = bench.setup()
    tilings = bench.random_tilings(5000, np.random.default_rng(1))

    def run():
        batch, valid = s.template.compile(tilings, s.kernel)
        return batch, valid, estimate(s.arrays, batch)

    with est.one_thread():
        ref_batch, ref_valid, ref = run()
    bounds = np.array([0, 1, 17, 2500, 4999, 5000], np.int64)
    monkeypatch.setattr(est, "row_chunks", lambda n: bounds)
    monkeypatch.setattr(comp, "row_chunks", lambda n: bounds)
    batch, valid, r = run()
    assert 0 < ref_valid.sum() < len(tilings) and np.array_equal(valid, ref_valid)
    for f in ("lanes_used", "read_bytes", "write_bytes", "link_bytes", "rf_accesses"):
        assert np.array_equal(getattr(batch, f), getattr(ref_batch, f)), f
    for f in ("latency_s", "ideal_s", "compute_s", "transfer_s", "busy_s", "busy_cycles",
              "utilisation", "stage_s", "read_bytes", "write_bytes", "link_bytes", "actions",
              "rf_accesses"):
        assert np.array_equal(getattr(r, f), getattr(ref, f)), f


def test_row_chunks_cover_big_batches_on_the_main_thread_only(monkeypatch):
    import threading

    import numba

    import archsim.estimator as est

    monkeypatch.setattr(numba, "get_num_threads", lambda: 4)
    b = est.row_chunks(100_000)
    assert b[0] == 0 and b[-1] == 100_000 and np.all(np.diff(b) > 0) and len(b) == 17
    assert est.row_chunks(est.PARALLEL_MIN_ROWS - 1) is None
    monkeypatch.setattr(est, "PARALLEL_MIN_ROWS", 0)
    assert est.row_chunks(1500) is None  # never fewer than two chunks of ROWS_PER_CHUNK rows
    assert len(est.row_chunks(2 * est.ROWS_PER_CHUNK)) == 3
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    assert est.row_chunks(100_000) is None  # NUMBA_NUM_THREADS=1: no pool, one run
    monkeypatch.setattr(numba, "get_num_threads", lambda: 4)
    seen = []
    t = threading.Thread(target=lambda: seen.append(est.row_chunks(100_000)))
    t.start()
    t.join()
    assert seen == [None]  # a Dask worker thread scores on its own thread
    monkeypatch.setattr(est, "_serial", True)
    assert est.row_chunks(100_000) is None  # a sweep's worker process
