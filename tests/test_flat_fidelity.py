"""FLAT and the 1-pass cascade on FLAT's hardware against the FuseMax artifact, and the headlines.

Sources: studies/data/fusemax/attention.csv and flat_configurations.csv (FuseMax, MICRO 2024,
artifact f543beb; studies/data/fusemax/SOURCE.md); the paper's headline means (abstract and
Sec. VII: attention 10x / 77% energy vs unfused, 6.7x / 79% vs FLAT; end to end 7.6x / 82%,
5.3x / 83%). Tolerances are the issue's: latency within 2%, utilisation within 0.02, DRAM
traffic within 1%, energy within 5% (artifact-compatible accounting), headline means within 3%.
No constant is fitted per model or length: FLAT's configuration is the artifact's input table
(or its stated rule), the cascade runs with the artifact's named switches
(mappers.flat.CASCADE_ARTIFACT_*). One reproduction of all four models is shared by the tests.
"""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from mappers.compile import compile_mapping
from mappers.flat import (TABLE, FlatConfig, _share_to_fit, cascade, flat, flat_configuration,
                          flat_rule, spill_share)
from mappers.mapping import MappingError, Stage
from mappers.plain import costs, resident_bytes
from mappers.spatial import first_fitting
from studies import reproduce
from studies.workloads import MODELS, label, parse_count

DATA = Path(__file__).resolve().parent.parent / "studies" / "data" / "fusemax" / "attention.csv"
ROWS = [r for r in csv.DictReader(DATA.open()) if r["config"] in ("flat", "cascade")]
#: Timeloop's partition-size overflow inflates the artifact's cascade energies at these lengths
#: by 6.4% and 7.1% (docs/fusemax-artifact-model.md 1.4); ours counts the accesses correctly
OVERFLOW = {("cascade", "256K"), ("cascade", "1M")}


@pytest.fixture(scope="module")
def reproduction():
    rows = reproduce.attention_rows()
    linear = reproduce.linear_rows()
    by = {(r["config"], r["model"], r["seq_len"]): r for r in rows}
    return by, reproduce.headline(rows, linear)


def ours(reproduction, row) -> dict:
    return reproduction[0][(row["config"], row["model"], row["seq_len"])]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['config']}-{r['model']}-{r['seq_len']}")
def test_flat_hardware_designs_match_artifact(reproduction, row):
    r = ours(reproduction, row)
    assert r["latency_s"] == pytest.approx(float(row["latency_s"]), rel=0.02)
    assert r["traffic_bytes"] == pytest.approx(float(row["traffic_bytes"]), rel=0.01)
    assert r["util_2d"] == pytest.approx(float(row["util_2d"]), abs=0.02)
    assert r["util_1d"] == pytest.approx(float(row["util_1d"]), abs=0.02)
    if (row["config"], row["seq_len"]) not in OVERFLOW:
        assert r["energy_pj"] == pytest.approx(float(row["energy_pj"]), rel=0.05)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known artifact quirk: Timeloop's partition-size overflow "
                   "(std::size_t wrap of |T| x tile) adds global-buffer reads to the cascade's "
                   "energy at 256K (+6.4%) and 1M (+7.1%), docs/fusemax-artifact-model.md 1.4; "
                   "ours is 6.3% and 7.1% below the CSV there")
@pytest.mark.parametrize("row", [r for r in ROWS if (r["config"], r["seq_len"]) in OVERFLOW],
                         ids=lambda r: f"{r['model']}-{r['seq_len']}")
def test_cascade_energy_where_timeloop_overflows(reproduction, row):
    assert ours(reproduction, row)["energy_pj"] == pytest.approx(float(row["energy_pj"]),
                                                                 rel=0.05)


def test_all_reference_points_covered(reproduction):
    assert len([r for r in ROWS if r["model"] in ("BERT", "TrXL", "T5")]) == 36 == len(ROWS)
    assert all(r["status"] == "modelled" for r in reproduction[0].values())


@pytest.mark.parametrize("baseline, scope", [("unfused", "attention"), ("flat", "attention"),
                                             ("unfused", "end-to-end"), ("flat", "end-to-end")])
def test_headline_means_match_the_paper(reproduction, baseline, scope):
    # means over BERT, TrXL, T5, XLM x 1K..1M (24 points; XLM is not in the artifact CSV)
    h = next(x for x in reproduction[1] if (x["baseline"], x["scope"]) == (baseline, scope))
    assert h["points"] == 24
    assert h["speedup"] == pytest.approx(h["paper_speedup"], rel=0.03)
    assert h["energy_ratio"] == pytest.approx(h["paper_energy_ratio"], rel=0.03)
    # and on the 18 points the artifact has, ours beside the artifact's own means
    assert h["speedup_on_shared"] == pytest.approx(h["published_speedup"], rel=0.03)
    assert h["energy_ratio_on_shared"] == pytest.approx(h["published_energy_ratio"], rel=0.03)


CLOUD = [r for r in csv.DictReader(TABLE.open()) if r["platform"] == "cloud"]


@pytest.fixture(scope="module")
def flat_hw():
    return load_arch("flat")


def test_rule_reproduces_the_configuration_table(flat_hw):
    # every cloud row: granularity, P1, stationarity, QK/A placement (the table's Q on chip at
    # 128K and AV on chip at 64K are search outcomes the rule does not state)
    for r in CLOUD:
        got = flat_rule(int(r["M"]), flat_hw)
        p1 = int(r["M"]) if r["fusion_granularity"] == "head" else int(r["P1"])
        assert (got.granularity, got.p1, got.qk_stationarity, got.av_stationarity) == (
            r["fusion_granularity"], p1, r["QK_stationarity"], r["AV_stationarity"]), r["seq_len"]
        assert ("QK" in got.on_chip) == (r["QK_loc"] == "onchip") == (r["A_loc"] == "onchip")


def test_spill_share_from_capacity_equals_the_table(flat_hw):
    # the share derived from the buffer and the block (not read from the table) is the table's
    # proportion_spilled at every cloud row, and it is what the mapping spills
    for r in CLOUD:
        n, bh = int(r["M"]), int(r["B"]) * int(r["H"])
        cfg = flat_configuration(int(r["B"]), int(r["H"]), int(r["E"]), n, flat_hw)
        assert cfg.source == "table"
        s = spill_share(cfg, n, flat_hw)
        assert s == pytest.approx(float(r["proportion_spilled"]), abs=1e-12), r["seq_len"]
        m = flat(int(r["E"]), n, bh, flat_hw, cfg)
        assert {v[1] for v in m.fusion[0].spill.values()} <= {s}


@pytest.mark.parametrize("seq", ["4K", "128K", "256K"])
def test_flat_plain_and_numba_paths_agree(flat_hw, seq):
    n = parse_count(seq)
    m = flat(64, n, 768, flat_hw, flat_configuration(64, 12, 64, n, flat_hw))
    arrays = ArchArrays.from_arch(flat_hw)
    r = estimate(arrays, compile_mapping(m, flat_hw, arrays))
    per = costs(m, flat_hw)
    for k, lvl in enumerate(arrays.levels):
        assert r.read_bytes[0, k] == pytest.approx(sum(c.read_bytes[lvl] for c in per.values()))
        assert r.write_bytes[0, k] == pytest.approx(sum(c.write_bytes[lvl] for c in per.values()))


def test_other_head_dim_generalises(flat_hw):
    # XLM (E = F = 128, not in the artifact CSV): FLAT runs by the rule; where the 1D softmax
    # bounds it (4 cycles per score on p PEs), its latency is that of any E, and the 2D array is
    # busy 2E/(4p) of the time (E/(2p): 0.125 at E = 64, FuseMax paper Sec. VII; 0.25 here).
    # Its traffic is the artifact's closed form (docs/fusemax-artifact-model.md 5.3) at E = 128.
    xlm = MODELS["xlm"]
    arrays = ArchArrays.from_arch(flat_hw)
    p, f = 256, 940e6
    for n in (parse_count(s) for s in ("4K", "16K", "64K")):
        cfg = flat_configuration(xlm.batch, xlm.heads, xlm.head_dim, n, flat_hw)
        assert cfg.source == "rule"
        bh = xlm.batch * xlm.heads
        r = estimate(arrays, compile_mapping(flat(xlm.head_dim, n, bh, flat_hw, cfg), flat_hw,
                                             arrays))
        assert r.latency_s[0] == pytest.approx(4 * bh * n * n / (p * f), rel=1e-3)
        assert r.utilisation[0, arrays.units.index("pe2d")] == pytest.approx(
            2 * xlm.head_dim / (4 * p), rel=1e-3)
        e, s = xlm.head_dim, spill_share(cfg, n, flat_hw)
        closed = 2 * bh * (3 * n * e * n / p + n * e + 7 * n * n * s)
        dram = arrays.levels.index("dram")
        assert r.read_bytes[0, dram] + r.write_bytes[0, dram] == pytest.approx(closed, rel=1e-4)


def test_cascade_switches_change_only_what_they_name(flat_hw):
    # the artifact's 2-cycle exp (SLN, PRM) against the 1D array's own 1-cycle exp: 1D busy
    # (4p + 5 + 2F) X versus (3p + 4 + 2F) X; the 16 MiB sizing halves P1 (more K, V re-reads)
    from mappers.flat import CASCADE_ARTIFACT_OVERRIDES

    arrays = ArchArrays.from_arch(flat_hw)
    art_hw = flat_hw.with_overrides(CASCADE_ARTIFACT_OVERRIDES)
    n = parse_count("16K")
    own = estimate(arrays, compile_mapping(cascade(64, n, 768, flat_hw), flat_hw, arrays))
    art_arrays = ArchArrays.from_arch(art_hw)
    art = estimate(art_arrays, compile_mapping(cascade(64, n, 768, art_hw, artifact=True), art_hw,
                                               art_arrays))
    assert art.latency_s[0] / own.latency_s[0] == pytest.approx((4 * 256 + 5 + 128)
                                                                / (3 * 256 + 4 + 128), rel=2e-3)
    dram = arrays.levels.index("dram")
    assert art.read_bytes[0, dram] > own.read_bytes[0, dram]
    exp = arrays.actions.index("exp")
    assert art.actions[0, :, exp].sum() == 0 < own.actions[0, :, exp].sum()
    assert np.isfinite(own.latency_s).all()


def test_small_buffer_spills_more_or_refuses_by_name():
    # 1 MiB: at 16K the rule sends the scores through DRAM; at 4K the block spills the rule's
    # share 1 - 1 MiB / (256 x 4K x 2 B + 256 KiB) = 5/9; at 256K even the softmax rows and
    # their running values must leave the buffer (share 1); 256 KiB cannot hold a 1024-row
    # block of Q and AV: a one-line MappingError
    from mappers.mapping import MappingError

    small = load_arch("flat", ["global_buffer.capacity=1MiB"])
    cfg = flat_configuration(64, 16, 128, 4096, small)
    assert (cfg.source, cfg.p1) == ("rule", 256)
    assert spill_share(cfg, 4096, small) == pytest.approx(5 / 9)
    assert "QK" not in flat_configuration(64, 16, 128, 16384, small).on_chip
    m = flat(128, 262144, 1024, small, flat_configuration(64, 16, 128, 262144, small))
    assert {v[1] for v in m.fusion[0].spill.values()} == {1.0}
    tiny = load_arch("flat", ["global_buffer.capacity=256KiB"])
    with pytest.raises(MappingError, match="no FLAT block of P1=1024 rows at M=4096 fits"):
        flat(128, 4096, 1024, tiny, flat_configuration(64, 16, 128, 4096, tiny))


def _spilling(m, share: float, group_of=None, stages=None):
    """FLAT's mapping `m` with its kept tensors spilling `share` (its group and stages
    replaced when given)."""
    g = m.fusion[0]
    g = replace(g, einsums=group_of or g.einsums,
                spill={t: ("global_buffer", share) for t in g.keep} if share else {})
    return replace(m, fusion=(g,), stages=stages or m.stages)


@pytest.mark.parametrize("capacity", ["32MiB", "4MiB", "1MiB"])
def test_resident_bytes_are_linear_in_the_spill_share(capacity):
    # _share_to_fit's chord from share 0 to 1 gives the smallest share that fits where the
    # resident bytes are one line in the share; they are convex (a maximum of lines), and a
    # convex function is one line on [0, 1] iff it meets its chord at one point inside.
    # Every model at 1K..1M on three buffers (the reproduction's, and two that spill more)
    arch = load_arch("flat", [f"global_buffer.capacity={capacity}"])
    for w in MODELS.values():
        for n in (2**k for k in range(10, 21)):
            cfg = flat_configuration(w.batch, w.heads, w.head_dim, n, arch)
            try:
                m = flat(w.head_dim, n, w.batch * w.heads, arch, cfg)
            except MappingError:
                continue  # refused by name (test_small_buffer_spills_more_or_refuses_by_name)
            r = [resident_bytes(costs(_spilling(m, s), arch))["global_buffer"]
                 for s in (0.0, 0.5, 1.0)]
            assert r[1] == pytest.approx((r[0] + r[2]) / 2, rel=1e-12), (w.name, n)


def test_share_to_fit_follows_the_per_phase_footprint():
    # constructed: on every FLAT configuration the project evaluates, the resident bytes
    # (mappers.plain.resident_bytes) equal the sum over tensor spaces of their largest tile,
    # FLAT's six Einsums being one phase. Here AV runs as a phase of its own after the fused
    # QK + softmax (1 MiB buffer, P1 = 256, M = 4K, E = 64, Q and AV on chip): phase 0 holds
    # Q's block (E P1 2 B = 32 KiB) and (1 - s) of the scores (P1 M 2 B = 2 MiB) with the row
    # max and sum (4 B), phase 1 AV's block (32 KiB) and the scores, kept. The share that
    # fits exactly is 1 - (1 MiB - 32 KiB) / (2 MiB + 4 B) = 0.51563; summing every tile of
    # both phases (Q's and AV's blocks together, the rule before) spilled 1 - (1 MiB - 64 KiB)
    # / (2 MiB + 4 B) = 0.53125, 32 KiB more than needed
    arch = load_arch("flat", ["global_buffer.capacity=1MiB"])
    m = flat(64, 4096, 1, arch, FlatConfig("row", 256, frozenset({"Q", "QK", "A", "AV"}),
                                           "output", "output", "test"))
    fused = m.fusion[0].einsums[:-1]
    assert m.fusion[0].einsums[-1] == "AV"

    def split(share: float):
        return _spilling(m, share, fused, (Stage(fused, "pipelined", 0), Stage(("AV",))))

    s = _share_to_fit(split, "global_buffer", arch)
    assert s == pytest.approx(1 - (2**20 - 2**15) / (2**21 + 4), rel=1e-12)
    assert resident_bytes(costs(split(s), arch))["global_buffer"] == pytest.approx(2**20,
                                                                                   rel=1e-12)
    first_fitting([split(s)], arch, "split block")  # the compiled capacity check agrees
    with pytest.raises(MappingError, match="no split block fits"):
        first_fitting([split(s * (1 - 1e-9))], arch, "split block")


def test_cascade_other_head_dim_follows_the_artifacts_closed_forms(reproduction):
    # XLM (E = F = 128) is not in the artifact CSV; its model (docs/fusemax-artifact-model.md
    # section 4) at E = 128: the 1D array bounds it, busy (4p + 5 + 2F) X + AV with
    # AV = F p / M X, the 2D array (E + F) X; P1 the largest divisor of P/p within
    # floor((16 MiB - 2 p (E + F) 2 B) / ((E + 2p + 2 + F) 2 B p)) = 42; K and V read per P2
    p, e = 256, 128
    for n in (parse_count(s) for s in reproduce.SEQS):
        r = reproduction[0][("cascade", "XLM", label(n))]
        one_d = 4 * p + 5 + 2 * e + e * p / n
        assert r["util_2d"] == pytest.approx(2 * e / one_d, abs=0.002)
        p1 = max(d for d in range(1, 43) if (n // p) % d == 0)
        bh = 64 * 16
        traffic = 2 * bh * (n * e + n // (p * p1) * n * 2 * e + n * e)
        assert r["traffic_bytes"] == pytest.approx(traffic, rel=1e-9)


def test_readme_states_the_headline_means_this_code_gives(reproduction):
    # README's validation table, rows "headline means on the 18 shared points" and "... over
    # all 24 points": model values at the rounding printed (attention vs unfused, vs FLAT;
    # end-to-end vs unfused, vs FLAT), so the table cannot drift from the reproduction
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    shared = next(x for x in readme.splitlines() if "headline means on the 18 shared" in x)
    every = next(x for x in readme.splitlines() if "headline means over all 24" in x)
    pair = r"(\d+\.\d+)x / (\d\.\d+)"
    stated_shared = re.findall(pair + r" vs", shared)
    stated_every = re.findall(pair + r" \(", every)
    order = [("unfused", "attention"), ("flat", "attention"), ("unfused", "end-to-end"),
             ("flat", "end-to-end")]
    heads = {(h["baseline"], h["scope"]): h for h in reproduction[1]}
    assert stated_shared == [(f"{heads[k]['speedup_on_shared']:.2f}",
                              f"{heads[k]['energy_ratio_on_shared']:.3f}") for k in order]
    assert stated_every == [(f"{heads[k]['speedup']:.2f}", f"{heads[k]['energy_ratio']:.3f}")
                            for k in order]
