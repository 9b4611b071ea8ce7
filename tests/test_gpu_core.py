"""Core extensions for GPUs: parallel instances in rounds (waves with a tail) per mapping and
per stage, spatial loops without multicast, padded work; Numba against plain, hand-computed
answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from einsum_cascades import parse
from mappers.compile import compile_mapping
from mappers.mapping import EinsumMapping, Level, Loop, Mapping, MappingError, Stage
from mappers.plain import costs, evaluate

# 4 instances of a 1-PE unit (like 4 SMs), each running one instance of the cascade at a time
ARCH = """
attnsim_spec: 1
name: waves
components:
  dram:   {kind: memory, class: dram, bandwidth: 1TB/s}
  buffer: {kind: memory, class: sram, parent: dram, count: 4, capacity: 1KiB}
  u1: {kind: compute, parent: buffer, count: 4, frequency: 1Hz, ops: {mul: 1, add: 1}}
"""


def mapping(instances: int, parallel: int, stages=()) -> Mapping:
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + A[m]")
    nest = (Level("dram"), Level("buffer", (Loop("m", 8),)))
    return Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u1", nest)),
                   stages=stages, instances=instances, parallel_instances=parallel)


@pytest.mark.parametrize("instances, parallel, rounds", [
    (4, 4, 1), (5, 4, 2), (8, 4, 2), (3, 4, 1), (6, 1, 6)])
def test_rounds_of_parallel_instances_set_the_time(tmp_path, instances, parallel, rounds):
    # each instance: 8 muls + 8 adds = 16 s on one PE; rounds run one after another, so 5
    # instances on 4 PEs take 2 rounds (the tail of the last wave), not 5/4 of one
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    m = mapping(instances, parallel)
    assert m.rounds == rounds
    r = estimate(arr, compile_mapping(m, a, arr))
    assert r.latency_s[0] == pytest.approx(16 * rounds)
    assert evaluate(m, a)["latency_s"] == pytest.approx(16 * rounds)
    # traffic is that of every instance, whatever runs at once
    one = estimate(arr, compile_mapping(mapping(1, 1), a, arr))
    assert r.read_bytes[0].sum() == pytest.approx(instances * one.read_bytes[0].sum())


def test_an_instance_wider_than_the_units_spans_rounds(tmp_path):
    # 3 instances of 8 elements, each spread over 8 PEs of a 4-PE unit: half an instance at once
    # (parallel 0.5) is 6 rounds of 4 elements, 2 s each (a mul and an add per element)
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    c = parse("Y[m] = A[m] * B[m]\nZ[m] = Y[m] + A[m]")
    nest = (Level("dram", (Loop("m", 8, True),)), Level("buffer"))
    m = Mapping(c, {"m": 8}, (EinsumMapping("Y", "u1", nest), EinsumMapping("Z", "u1", nest)),
                instances=3, parallel_instances=0.5)
    assert m.rounds == 6
    assert estimate(arr, compile_mapping(m, a, arr)).latency_s[0] == pytest.approx(12)
    assert evaluate(m, a)["latency_s"] == pytest.approx(12)


def test_pipelined_epochs_count_rounds(tmp_path):
    # 8 instances, 4 at once, one pipelined stage of 8 epochs per instance: 16 epochs per PE;
    # Y and Z share the unit, so the stage's busy time is 2 rounds x 16 s
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    for stage in (Stage(("Y", "Z"), "pipelined", 8), Stage(("Y", "Z"), "pipelined", 0)):
        m = mapping(8, 4, (stage,))
        r = estimate(arr, compile_mapping(m, a, arr))
        assert r.stage_s.shape == (1, 1)
        assert r.latency_s[0] == pytest.approx(32)
        assert evaluate(m, a)["latency_s"] == pytest.approx(32)


def test_too_many_parallel_instances_do_not_fit(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    with pytest.raises(MappingError, match="PEs"):
        evaluate(mapping(8, 8), a)
    with pytest.raises(MappingError, match="positive"):
        evaluate(replace(mapping(8, 4), parallel_instances=0), a)


def test_a_stage_may_run_its_own_parallel_instances(tmp_path):
    # two kernels over 8 instances: Y 4 at once (2 rounds of 8 s of muls), Z one at a time
    # (8 rounds of 8 s of adds): 2 x 8 + 8 x 8 = 80 s
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    m = mapping(8, 4, (Stage(("Y",)), Stage(("Z",), parallel_instances=1)))
    assert m.stage_rounds(m.stages[0]) == 2 and m.stage_rounds(m.stages[1]) == 8
    r = estimate(arr, compile_mapping(m, a, arr))
    assert r.latency_s[0] == pytest.approx(2 * 8 + 8 * 8)
    assert evaluate(m, a)["latency_s"] == pytest.approx(2 * 8 + 8 * 8)


def test_spatial_loop_without_multicast_fetches_per_instance(tmp_path):
    # Z[m,n] = A[m,k] B[k,n] with n spread over the 4 buffer instances: B is indexed by n (each
    # instance its slice), A is not: multicast sends it once, without multicast 4 times
    f = tmp_path / "a.yaml"
    f.write_text(ARCH.replace("ops: {mul: 1, add: 1}", "ops: {mac: 1}"))
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    c = parse("Z[m,n] = A[m,k] * B[k,n]")

    def gemm(multicast: bool) -> Mapping:
        nest = (Level("dram", (Loop("n", 4, True, multicast),)), Level("buffer"))
        return Mapping(c, {"m": 4, "n": 4, "k": 2}, (EinsumMapping("Z", "u1", nest),))

    words = {}
    for mc in (True, False):
        r = estimate(arr, compile_mapping(gemm(mc), a, arr))
        words[mc] = r.read_bytes[0, arr.levels.index("dram")] / 2
        assert r.latency_s[0] == pytest.approx(evaluate(gemm(mc), a)["latency_s"])
        assert r.read_bytes[0, 0] + r.read_bytes[0, 1] == pytest.approx(
            sum(costs(gemm(mc), a)["Z"].read_bytes.values()))
    assert words[True] == 8 + 8          # A (4 x 2) once, B (2 x 4) once in slices
    assert words[False] == 4 * 8 + 8     # A to each of the 4 instances


def test_padded_work_scales_ops_and_time_not_traffic(tmp_path):
    # a GPU tile's padded rows (EinsumMapping.padding): Y computed 4 times over (its 8 muls
    # count 32, 32 s on one PE), Z once (8 s); the bytes moved are those of the real rows
    f = tmp_path / "a.yaml"
    f.write_text(ARCH)
    a = load_arch(f)
    arr = ArchArrays.from_arch(a)
    m = mapping(1, 1)
    padded = replace(m, einsums=(replace(m.einsums[0], padding=4.0), m.einsums[1]))
    r, plain = estimate(arr, compile_mapping(padded, a, arr)), evaluate(padded, a)
    assert r.latency_s[0] == pytest.approx(4 * 8 + 8) and plain["latency_s"] == pytest.approx(40)
    assert costs(padded, a)["Y"].ops == {"mul": 32.0}
    one = estimate(arr, compile_mapping(m, a, arr))
    assert r.read_bytes[0].sum() == pytest.approx(one.read_bytes[0].sum())
