"""Register-file accesses: hand counts on a GEMM, plain and Numba paths agree, and the two
energy accountings of FuseMax differ by exactly the priced register-file term.

Counting rule (mappers/plain.py): per point one read per input operand and one output update;
output reads = updates - distinct values per PE; writes = fills from the innermost memory (every
PE of a multicast group its own) + updates + partial sums read back. It is the per-point rule of
the FuseMax artifact's Timeloop counts (docs/fusemax-artifact-model.md 1.4, 1.5, 11.1).
"""

from __future__ import annotations

import numpy as np
import pytest

from archsim.estimator import estimate
from archsim.spec import load_arch
from mappers.compile import compile_mapping
from mappers.mapping import Loop
from mappers.plain import costs
from mappers.spatial import fusemax
from studies.evaluate import evaluate

from test_estimator import GEMM_ARCH, arch_from, gemm_mapping


@pytest.mark.parametrize("dram, total", [
    # Z[8,8] = A[8,4] B[4,8] on a 4x4 array, 256 points. A, B: 256 reads each, and each PE
    # fills one word of each per (m1, n1, k) step: 2*2*4*16 = 256 fills each. Z: 256 updates,
    # 256 - 64 reads (the first update of each of its 64 values reads nothing), drained once.
    ((Loop("m", 2), Loop("n", 2)), 4 * 256 + 256 + 192),
    # k outermost at DRAM: Z leaves the PEs 4 times, 3 x 64 partial sums are filled back; a
    # PE keeps its A word across the n loop inside m (only k x m = 8 steps fill it: 128 fills)
    ((Loop("k", 4), Loop("m", 2), Loop("n", 2)), 2 * 256 + 128 + 256 + 256 + 192 + 192),
])
def test_gemm_register_file_accesses_by_hand(tmp_path, dram, total):
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "1KiB"))
    inner = tuple(lp for lp in (Loop("k", 4),) if all(d.rank != "k" for d in dram))
    m = gemm_mapping(dram, (Loop("m", 4, True), Loop("n", 4, True)) + inner)
    assert costs(m, a)["Z"].rf_accesses == total
    assert estimate(arr, compile_mapping(m, a, arr)).rf_accesses[0, 0] == total


def test_numba_equals_plain_register_files_on_random_tilings(tmp_path):
    rng = np.random.default_rng(1)
    a, arr = arch_from(tmp_path, GEMM_ARCH.replace("CAPACITY", "1KiB"))
    for _ in range(30):
        order = list(rng.permutation(["m", "n", "k"]))
        outer = {r: int(rng.choice([1, 2, 4])) for r in order}
        sp = {r: int(rng.choice([d for d in (1, 2, 4) if (8 // outer[r]) % d == 0]))
              for r in ("m", "n")}
        buf = (Loop("m", sp["m"], True), Loop("n", sp["n"], True)) + tuple(
            Loop(r, {"m": 8, "n": 8, "k": 4}[r] // outer[r] // sp.get(r, 1))
            for r in rng.permutation(order))
        m = gemm_mapping(tuple(Loop(r, outer[r]) for r in order), buf)
        got = estimate(arr, compile_mapping(m, a, arr)).rf_accesses[0, 0]
        assert got == costs(m, a)["Z"].rf_accesses


@pytest.fixture(scope="module")
def fusemax_hw():
    return load_arch("fusemax")


@pytest.mark.parametrize("name", ["fusemax", "architecture", "unfused"])
def test_designs_register_files_plain_equals_numba(name):
    # fusion in the PEs, a serial reduction, bypass and staged operands: both paths agree
    from archsim.estimator import ArchArrays
    from studies.evaluate import design
    from studies.workloads import MODELS

    d = design(name)
    arch = load_arch(d.arch)
    m = d.build(MODELS["t5"], 4096, arch)
    arrays = ArchArrays.from_arch(arch)
    r = estimate(arrays, compile_mapping(m, arch, arrays))
    per = costs(m, arch)
    want = [sum(ec.rf_accesses for ec in per.values() if ec.unit == u) for u in arrays.units]
    assert r.rf_accesses[0] == pytest.approx(want, rel=1e-12) and min(want) > 0


@pytest.mark.parametrize("seq", [1024, 65536])
def test_fusemax_register_files_plain_equals_numba_and_accountings(fusemax_hw, seq):
    arch = fusemax_hw
    m = fusemax(None, 64, seq, 64 * 12, arch)  # BERT: batch 64 x 12 heads, E = F = 64
    from archsim.estimator import ArchArrays
    arrays = ArchArrays.from_arch(arch)
    r = estimate(arrays, compile_mapping(m, arch, arrays))
    per = costs(m, arch)
    for k, unit in enumerate(arrays.units):
        assert r.rf_accesses[0, k] == pytest.approx(
            sum(ec.rf_accesses for ec in per.values() if ec.unit == unit), rel=1e-12)
    # FuseMax's QK on one 2D PE: 3 C E - C reads and 3 C E writes (docs/fusemax-artifact-model.md
    # 2.4, 2D reg_file row, QK part; C = points per PE of one (m, p) pass), exactly
    c = 64 * 12 * seq * seq / 65536
    assert per["BQK"].rf_accesses / 65536 == pytest.approx(6 * c * 64 - c, rel=1e-12)
    artifact, complete = evaluate(m, arch, "artifact"), evaluate(m, arch, "complete")
    rf_a = artifact["energy_breakdown_pj"]["register_file"]
    rf_c = complete["energy_breakdown_pj"]["register_file"]
    assert rf_a > 0 and rf_c > 100 * rf_a  # one PE of each array against all of them
    assert complete["energy_pj"] - artifact["energy_pj"] == pytest.approx(rf_c - rf_a, rel=1e-9)
    assert (artifact["accounting"], complete["accounting"]) == ("artifact", "complete")
