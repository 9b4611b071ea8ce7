"""Orojenesis traffic bounds (GEMM closed forms, cascade ski slopes) and the roofline bound."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from archsim.spec import load_arch
from einsum_cascades import load
from studies.bounds.roofline import compute_bound_s, on_chip_capacity, roofline
from studies.bounds.traffic import cascade_traffic, einsum_frontier, gemm_peak_intensity
from studies.cli import app
from studies.evaluate import DESIGNS, score
from studies.workloads import Workload, model

GEMM = ({"A": "mk", "B": "kn"}, "mn")


@pytest.mark.parametrize("m, k, n", [(16, 16, 16), (32, 32, 32), (64, 16, 32), (8, 128, 24)])
def test_gemm_peak_intensity_closed_form(m, k, n):
    """Orojenesis (ISCA 2024, shared/reference/bounds.md): peak OI = MKN / (MK + KN + MN),
    exactly; the frontier is monotone (more buffer, strictly fewer accesses)."""
    f = einsum_frontier({"m": m, "k": k, "n": n}, *GEMM)
    assert f.intensity.max() == pytest.approx(gemm_peak_intensity(m, k, n), rel=1e-12)
    assert np.all(np.diff(f.buffer) > 0) and np.all(np.diff(f.accesses) < 0)
    # the smallest buffer, one element of each operand: output-stationary, each operand read
    # once per MAC and each output written once
    assert f.buffer[0] == 3 and f.accesses[0] == pytest.approx(2 * m * k * n + m * n)


@pytest.mark.parametrize("n", [16, 32, 64])
def test_gemm_largest_useful_buffer_is_a_third_of_the_operands(n):
    """Orojenesis: for M = K = N the peak is reached with about 1/3 of all operand data (one
    operand whole plus a row of each other: n^2 + 2n elements)."""
    f = einsum_frontier({"m": n, "k": n, "n": n}, *GEMM)
    assert f.buffer[-1] == n * n + 2 * n


SHAPES = {"p": 4096, "m": 4096, "e": 64, "f": 64}


def test_ski_slopes_order_by_passes():
    """From the buffer that holds a query's fused state (4K elements here) a cascade with fewer
    passes needs no more traffic, never below the compulsory traffic; the 1-pass cascade
    reaches it first, the 3-pass one last. (Below that every cascade runs best unfused, where
    the pass count does not order them: the 2-pass cascade has the fewest intermediates.)"""
    curves = {c: cascade_traffic(load(c), SHAPES | ({"m0": 256} if c != "three_pass" else {}))
              for c in ("one_pass", "two_pass", "three_pass")}
    sizes = 2.0 ** np.arange(12, 28)
    t = {c: np.array([cv.frontier.at(b) for b in sizes]) for c, cv in curves.items()}
    assert np.all(t["one_pass"] <= t["two_pass"]) and np.all(t["two_pass"] <= t["three_pass"])
    for c, cv in curves.items():
        assert np.all(t[c] >= cv.compulsory * (1 - 1e-12))
    first = {c: sizes[np.argmax(t[c] <= curves[c].compulsory * (1 + 1e-12))] for c in t}
    assert first["one_pass"] < first["two_pass"] < first["three_pass"]
    assert curves["three_pass"].passes == 3


def test_fusemax_design_never_beats_the_traffic_bound():
    """FuseMax's mapping (BERT, 64K) moves at least the least traffic the bound allows at its
    buffer size, and exactly that at 16 MiB (its P1 fills the buffer)."""
    w = model("bert")
    curve = cascade_traffic(load("one_pass"), {"p": 65536, "m": 65536, "e": 64, "f": 64,
                                               "m0": 256})
    for cap in ("4MiB", "8MiB", "16MiB"):
        arch = load_arch("fusemax", [f"global_buffer.capacity={cap}"])
        got = score(DESIGNS["fusemax"].build(w, 65536, arch), arch)["traffic_bytes"]
        bound = curve.frontier.at(arch.memories["global_buffer"].capacity_bytes / 2) * 2 * 768
        assert got >= bound * (1 - 1e-12), cap
    assert got == pytest.approx(bound, rel=1e-12)


def test_compute_bound_of_a_gemm_is_macs_over_all_mac_lanes():
    """A GEMM's MACs split over both arrays of FuseMax (256x256 + 256 PEs, 940 MHz, 1 cycle
    per MAC): N I O / (65792 x 940e6) seconds."""
    arch = load_arch("fusemax")
    t, ops = compute_bound_s(load("gemm"), {"n": 1024, "i": 768, "o": 768}, 1, arch)
    assert ops == {"mac": 1024 * 768 * 768}
    assert t == pytest.approx(1024 * 768 * 768 / (65792 * 940e6), rel=1e-9)


def test_compute_bound_counts_only_the_pes_a_unit_sustains():
    # on h100 a GEMM's MACs split over the tensor cores, which sustain 0.839 of their 270,336
    # MAC lanes (h100.yaml `attainable`), and the 16,896 CUDA-core lanes, all at 1.83 GHz
    arch = load_arch("h100")
    t, _ = compute_bound_s(load("gemm"), {"n": 1024, "i": 768, "o": 768}, 1, arch)
    assert t == pytest.approx(1024 * 768 * 768 / ((0.839 * 270336 + 16896) * 1.83e9), rel=1e-9)


@pytest.mark.parametrize("name", ["fa2", "fa3", "standard", "flash_decoding", "lean"])
def test_no_gpu_design_beats_the_roofline_of_its_own_work(name):
    # the bound of the mapping's own cascade, shapes and instances (FA2/FA3's padded rows, which
    # are in its shapes; not the decode kernels' `padding`, which only adds work) on
    # h100, whose tensor cores sustain less than their peak, lies under the estimate
    w, arch = Workload("custom", 2, 16, 128, 2048, 8192), load_arch("h100")
    m = DESIGNS[name].build(w, 4096, arch)
    bound = roofline(m.cascade, m.shapes, m.instances, arch).bound_s
    assert bound <= score(m, arch)["latency_s"]


def test_fusemax_latency_is_within_its_roofline():
    w = model("bert")
    arch = load_arch("fusemax")
    r = roofline(load("one_pass"), {"p": 16384, "m": 16384, "e": 64, "f": 64, "m0": 256}, 768,
                 arch)
    lat = score(DESIGNS["fusemax"].build(w, 16384, arch), arch)["latency_s"]
    assert r.bound_by == "compute" and r.bound_s <= lat
    assert r.memory_bound_s >= r.compulsory_memory_s


def test_cli_bounds_json():
    runner = CliRunner()
    r = runner.invoke(app, ["bound", "roofline", "--model", "bert", "--seq", "4K",
                            "--over", "unfused", "-f", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["attainable_speedup"] > 1 and d["bound_by"] in ("compute", "memory")
    r = runner.invoke(app, ["bound", "traffic", "--model", "bert", "--seq", "4K", "--buffers",
                            "64KiB,16MiB", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["rows"]) == 6
    bad = runner.invoke(app, ["bound", "traffic", "--model", "bert", "--seq", "4K",
                              "--buffers", "64Kb"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1


def test_roofline_of_a_decode_design_bounds_one_query():
    # Flash-Decoding maps one query per head over a context of --seq keys: the bound is of the
    # cascade at P = 1, K/V read once (32 heads x 8K x 128 x 2 x 2 B over 3.35 TB/s), and the
    # design lands under it; a prefill and a decode design are not bound together
    runner = CliRunner()
    args = ["bound", "roofline", "--arch", "h100", "--seq", "8K", "--batch", "1", "--heads",
            "32", "--head-dim", "128", "--mapper", "flash_decoding"]
    r = runner.invoke(app, args + ["-f", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["phase"] == "decode" and d["bound_by"] == "memory"
    assert d["memory_bound_s"] == pytest.approx(32 * 8192 * 128 * 2 * 2 / 3.35e12, rel=0.01)
    assert d["bound_s"] <= d["mapper_latency_s"]
    mixed = runner.invoke(app, args + ["--over", "fusemax"])
    assert mixed.exit_code != 0 and mixed.output.count("\n") == 1
    assert "different phases" in mixed.output


@pytest.mark.parametrize("name", ["unfused", "architecture", "fusemax"])
@pytest.mark.parametrize("seq", [1024, 16384])
def test_no_design_moves_less_than_the_bound(name, seq):
    """Each design on its own preset moves at least its cascade's least traffic at that
    preset's buffer (FuseMax's and the architecture design meet it; the unfused baseline is
    17x above the 3-pass bound at 1K: a fused 3-pass mapping would keep score rows on chip)."""
    d, w = DESIGNS[name], model("bert")
    arch = load_arch(d.arch)
    c = load(d.cascade)
    shapes = {"p": seq, "m": seq, "e": 64, "f": 64} | ({"m0": 256} if "m0" in c.ranks else {})
    word = arch.word_bits / 8
    bound = cascade_traffic(c, shapes).frontier.at(on_chip_capacity(arch)[1] / word) * word * 768
    got = score(d.build(w, seq, arch), arch)["traffic_bytes"]
    assert got >= bound * (1 - 1e-12)
