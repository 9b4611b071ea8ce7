"""GPU-tile mappings: tiles within shared memory and registers, waves and their tail, causal
skipping, GQA's shared K/V, and the decode mappers' structure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from mappers.compile import compile_mapping
from mappers.gpu import (Attention, _kernels, ctas_tried, flash, flash_decoding, lean,
                         max_ctas_per_sm, num_splits, occupancy, one_pass, sms,
                         softmax_block_threads, softmax_rows_fit_l2, softmax_slots,
                         softmax_wave, split_k, splitkv_block_n, standard,
                         standard_backward)
from mappers.mapping import EinsumMapping, MappingError
from mappers.plain import costs, resident_bytes
from mappers.plain import evaluate as plain_evaluate
from studies.gpu_evaluate import evaluate_gpu


@pytest.fixture(scope="module")
def h100():
    return load_arch("h100")


def latency(m, arch) -> float:
    arr = ArchArrays.from_arch(arch)
    return float(estimate(arr, compile_mapping(m, arch, arr)).latency_s[0])


@pytest.mark.parametrize("kind", ["fa2", "fa3"])
def test_chosen_tiles_fit_shared_memory_and_registers(h100, kind):
    choice = flash(Attention(2, 16, 128, 4096), h100, kind)
    foot = resident_bytes(costs(choice.mapping, h100))
    for level in ("smem", "registers"):
        assert 0 < foot[level] * choice.occupancy \
            <= h100.memories[level].capacity_bytes
    assert choice.tried > 1  # tile sizes are searched
    assert choice.occupancy in (1, 2, 4, 8, 16)  # resident CTAs split the SM's units evenly


def test_occupancy_never_exceeds_the_capability_limit():
    # CUDA guide, Technical Specifications per Compute Capability: resident blocks / warps per
    # SM (8.0: 32 / 64, 8.6: 16 / 48, 9.0 and 10.0: 32 / 64); a FA2 CTA is 4 warps
    assert [max_ctas_per_sm(load_arch(n)) for n in ("a100", "a6000", "h100", "b200")] == [
        16, 12, 16, 16]
    # no capability stated: the tightest listed limits (16 blocks, 48 warps)
    assert max_ctas_per_sm(replace(load_arch("a100"), compute_capability=None)) == 12
    # 64 x 16 tiles at head dim 32 in 1 MiB of shared memory and registers: more than 12 fit
    a = Attention(4, 8, 32, 1024)
    arch = load_arch("a6000", ["smem.capacity=1MiB", "registers.capacity=1MiB"])
    m = one_pass(a, arch, 64, 16)
    foot = resident_bytes(costs(m, arch))
    assert min(arch.memories[lv].capacity_bytes // foot[lv] for lv in ("smem", "registers")) > 12
    assert list(occupancy([m], arch)) == [12]
    # the search tries the powers of two up to the limit: on 8.6 up to 8, never 12 or 16
    assert ctas_tried(12) == [1, 2, 4, 8] and ctas_tried(16)[-1] == 16 and ctas_tried(0) == []
    assert flash(a, arch).occupancy <= 8


def test_tiny_problem_is_not_slowed_by_uneven_occupancy(h100):
    # 48 queries: one 64-row tile per head; 15 heads fit one wave in about a microsecond
    r = evaluate_gpu("fa2", Attention(3, 5, 128, 48), h100)
    assert r["latency_s"] < 2e-6 and r["waves"] == [1]


def test_queries_are_padded_to_whole_tiles(h100):
    # FA2's warps own 16-row MMA fragments (4 warps: 64 rows at least; split-KV kernel kBlockM
    # = 64): 48 queries cost what a 64-row tile does, and decode's one query a 64-row tile
    t48 = evaluate_gpu("fa2", Attention(3, 5, 128, 48), h100)
    t64 = evaluate_gpu("fa2", Attention(3, 5, 128, 64, keys=48), h100)
    assert t48["tiles"][0] == 64 and t48["compute_s"] == pytest.approx(t64["compute_s"])
    dec = flash(Attention(1, 32, 128, 1, keys=4096), h100, "fa2")
    assert dec.tiles[0] == 64 and dec.mapping.shapes["p"] == 64


def test_smaller_shared_memory_forces_smaller_tiles():
    big = load_arch("h100")
    small = load_arch("h100", ["smem.capacity=64KiB"])
    a = Attention(2, 16, 128, 4096)
    t_big, t_small = flash(a, big, "fa2").tiles, flash(a, small, "fa2").tiles
    assert t_small[0] * t_small[1] < t_big[0] * t_big[1]
    with pytest.raises(MappingError, match="no tile size fits"):
        flash(a, load_arch("h100", ["smem.capacity=8KiB"]), "fa2")


def test_one_more_cta_than_sms_takes_two_waves(h100):
    # 133 compute-bound CTAs (GQA: 133 query heads share one K/V head, 16K keys) on 132 SMs
    # take two waves, the second nearly idle: ~2x the time of 132 CTAs, the same as 264. At the
    # peak rate: the sustained ceiling (`attainable`) is chip-wide, so it does not slow the
    # lone CTA of the tail wave
    peak = h100.with_overrides(("tensor_core.attainable=1",))
    t = {h: latency(one_pass(Attention(1, h, 128, 128, keys=16384, kv_heads=1), peak, 128, 128,
                             "fa3"), peak) for h in (132, 133, 264)}
    assert sms(h100) == 132
    assert t[133] / t[132] == pytest.approx(2.0, rel=0.05)
    assert t[264] == pytest.approx(t[133], rel=0.02)


def test_the_tensor_ceiling_holds_wave_by_wave(h100):
    # with h100's sustained ceiling (attainable 0.839) a full wave of 132 compute-bound CTAs
    # takes 1 / 0.839 of its peak time, and the tail wave's lone CTA (2048 of 226,812 sustained
    # lanes) runs at its own full rate: 133 CTAs take (1 / 0.839 + 1) peak waves, 264 take two
    # capped ones; the plain model agrees
    peak = h100.with_overrides(("tensor_core.attainable=1",))

    def waves(h: int, arch) -> float:
        m = one_pass(Attention(1, h, 128, 128, keys=16384, kv_heads=1), arch, 128, 128, "fa3")
        assert plain_evaluate(m, arch)["latency_s"] == pytest.approx(latency(m, arch), rel=1e-9)
        return latency(m, arch)

    one = waves(132, peak)
    assert waves(132, h100) / one == pytest.approx(1 / 0.839, rel=0.02)
    assert waves(133, h100) / one == pytest.approx(1 / 0.839 + 1, rel=0.03)
    assert waves(264, h100) / one == pytest.approx(2 / 0.839, rel=0.02)


@pytest.mark.parametrize("kind", ["fa2", "fa3"])
def test_causal_mask_about_halves_the_work(h100, kind):
    full = evaluate_gpu(kind, Attention(4, 16, 128, 8192), h100)
    causal = evaluate_gpu(kind, Attention(4, 16, 128, 8192, causal=True), h100)
    # T = 64 tiles: (T + 1) / 2 of T visited, rounded up to 33 of 64
    assert 0.45 < causal["latency_s"] / full["latency_s"] < 0.6
    assert causal["flops"] == full["flops"] / 2


def test_grouped_query_attention_reads_kv_once_per_group(h100):
    b, h, d, n = 4, 32, 128, 4096
    mha = evaluate_gpu("fa3", Attention(b, h, d, n), h100)["hbm_bytes"]
    gqa = evaluate_gpu("fa3", Attention(b, h, d, n, kv_heads=8), h100)["hbm_bytes"]
    per_tensor = b * h * n * d * 2  # Q, O (and K, V without GQA), BF16
    assert mha == pytest.approx(4 * per_tensor)
    assert gqa == pytest.approx(2 * per_tensor + 2 * per_tensor / 4)


def test_fa3_outruns_fa2_on_hopper_but_not_the_tensor_ceiling(h100):
    # FA3 is held to what the tensor cores sustain (h100.yaml attainable: 830 of 989 TFLOP/s),
    # FA2 to its mma.sync half of the peak
    a = Attention(1, 16, 128, 16384)
    fa2, fa3 = (evaluate_gpu(k, a, h100) for k in ("fa2", "fa3"))
    assert fa3["tflops"] > 2 * fa2["tflops"]
    tc = h100.computes["tensor_core"]
    sustained, peak = 2 * tc.attainable_lanes * tc.frequency_hz, 2 * tc.lanes * tc.frequency_hz
    assert fa3["tflops"] * 1e12 <= sustained * 1.0001 and fa2["tflops"] * 1e12 < peak / 2


def test_decode_mappers_fill_the_sms(h100):
    a = Attention(1, 32, 128, 1, keys=65536)
    fd = flash_decoding(a, h100)
    splits = fd.tiles[0]
    assert 32 * splits > sms(h100) / 2       # enough splits to occupy the SMs
    ln = lean(a, h100)
    assert ln.mapping.instances == sms(h100) and ln.mapping.rounds == 1
    # both stream every K/V byte once
    kv = 2 * 32 * 65536 * 128 * 2
    for c in (fd, ln):
        r = evaluate_gpu("flash_decoding" if c is fd else "lean", a, h100)
        assert kv <= r["hbm_bytes"] < 1.05 * kv


def test_decode_time_grows_linearly_once_memory_bound(h100):
    t = [evaluate_gpu("flash_decoding", Attention(1, 32, 128, 1, keys=n), h100)["latency_s"]
         for n in (65536, 262144)]
    assert t[1] / t[0] == pytest.approx(4, rel=0.05)


@pytest.mark.parametrize("arch", ["a100", "h100"])
def test_split_k_beats_fa2_at_batch_1(arch):
    # trend (studies/data/flashattention/decode.csv): Flash-Decoding and LeanAttention beat
    # FA2 at batch 1 (published 2.6x average, 8.33x at 512K, up to 50x). In the model FA2's 32
    # CTAs (one per head) compute padded 64-row tiles on 32 SMs and are tensor-core bound,
    # split-K (flash-attention's heuristic: 4 to 8 splits) and stream-K spread the same padded
    # work over all SMs and are HBM bound: 1.5-1.8x on A100, 1.9-2.1x on H100 (the magnitude
    # gap is the strict xfail in test_gpu_fidelity)
    gpu = load_arch(arch)
    for ctx in (4096, 524288):
        a = Attention(1, 32, 128, 1, keys=ctx)
        fa2 = evaluate_gpu("fa2", a, gpu)["latency_s"]
        fd = evaluate_gpu("flash_decoding", a, gpu)["latency_s"]
        ln = evaluate_gpu("lean", a, gpu)["latency_s"]
        assert fa2 / fd > 1.5 and fa2 / ln > 1.5


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "split-K and stream-K both stream every K/V byte once and are HBM bound in the model, whose "
    "memory time uses the aggregate bandwidth, so the SMs split-K leaves idle cost only the "
    "split phase's compute-bound row work (max, padded exponentials, sum): here "
    "flash-attention's heuristic gives 6 splits (240 CTAs on 132 SMs, 2 rounds) and "
    "LeanAttention is 1.01x faster; a per-SM streaming limit (bytes in flight per SM / loaded "
    "memory latency, Little's law) would charge the idle SMs, but no loaded HBM latency could "
    "be read from a source in reach (docs/gpu-model.md); published: LeanAttention 1.73x "
    "average over Flash-Decoding (final version), 2.18x at 256K"))
def test_stream_k_ahead_of_split_k_when_tiles_do_not_divide(h100):
    a = Attention(1, 40, 128, 1, keys=262144)   # 40 heads: splits never fill 132 SMs evenly
    fd = evaluate_gpu("flash_decoding", a, h100)["latency_s"]
    ln = evaluate_gpu("lean", a, h100)["latency_s"]
    assert fd / ln > 1.2


def test_decode_split_phase_computes_the_padded_tile():
    # the split-KV kernel computes a 64-row tile for the one query (kBlockM = 64): the padded
    # rows' work is counted (ops, so energy) and fills the PEs, so QK^T takes the padded
    # tile's time and the exponentials the 64 rows' time on the SFU's 16 PEs per SM; the
    # padded rows' Q loads and partial stores are predicated off (flash-attention
    # flash_fwd_kernel.h, compute_attn_1rowblock_splitkv), so Q moves one row (Flash-Decoding:
    # 6 splits of 32 heads, 192 CTAs in 2 rounds on 108 SMs, 96 at a time)
    a100 = load_arch("a100")
    a = Attention(1, 32, 128, 1, keys=108 * 256)
    sfu = a100.computes["sfu"]
    for kernel, busy_sms, combines in (("lean", 108, 108), ("flash_decoding", 96, 32)):
        per = {e["einsum"]: e for e in evaluate_gpu(kernel, a, a100)["einsums"]}
        scores = 32 * 108 * 256  # one query row
        assert per["BQK"]["ops"]["mac"] == 64 * scores * 128
        assert per["BQK"]["compute_s"] == pytest.approx(64 * scores * 128 / (busy_sms * 1024)
                                                        / 1.41e9, rel=1e-9)
        assert per["SLN"]["ops"]["exp"] == 64 * scores
        assert per["SLN"]["compute_s"] == pytest.approx(
            64 * scores * sfu.ops["exp"].cycles / (busy_sms * 16) / sfu.frequency_hz, rel=1e-9)
        # the combine kernel (combine_attn_seqk_parallel) reads and reduces the real rows only
        assert per["AV"]["ops"]["div"] == combines * 128
        # QK^T reads K once and one Q row per instance (2 B each), not the 64 padded rows
        assert per["BQK"]["bytes"]["hbm"] == 2 * (scores * 128 + combines * 128)


def test_flash_decoding_splits_follow_flash_attention_heuristic():
    # flash-attention csrc/flash_attn/flash_api.cpp, num_splits_heuristic: its comment's
    # example (batch x heads = 48 on 108 SMs: 2 splits, efficiency 0.89, not 3 at 0.67); one
    # split once the CTAs fill 80% of the slots; ineligible counts skipped (8 tiles: 5 and 6
    # splits leave 2 tiles per split, as 4 does)
    assert num_splits(48, 108, 1000) == 2
    assert num_splits(87, 108, 1000) == 1 and num_splits(86, 108, 1000) > 1
    assert num_splits(32, 216, 8) == 4    # 4 x 32 / 216 = 0.59, the best eligible
    assert num_splits(32, 216, 4096) == 6  # 192 / 216 = 0.89, within 85% of 27 splits' 1.0
    # the launch: A100, batch 1, 32 heads of 128 (2 slots per SM: 216), 128-key tiles
    a100 = load_arch("a100")
    for ctx, splits in ((1024, 4), (524288, 6)):
        assert flash_decoding(Attention(1, 32, 128, 1, keys=ctx), a100).tiles == (splits, 128)
    assert splitkv_block_n(64) == 256 and splitkv_block_n(128) == 128 and splitkv_block_n(256) == 64
    with pytest.raises(ValueError, match="multiple of the split-KV tile"):
        flash_decoding(Attention(1, 32, 128, 1, keys=1000), a100)


@pytest.mark.parametrize("arch_name, seq, smem", [
    # A6000 at 1K keys (100 KiB of shared memory): the QK^T kernel holds a 128-row Q tile and a
    # 128-key K tile, 64 of the head dim at a time (16 KB each), and the 128 x 128 score tile
    # (32 KB); the PV kernel likewise (P and V chunks, the O tile): 64 KB, where the three
    # kernels summed (the softmax row included) were 133 KB and did not fit
    ("a6000", 1024, 64 * 1024),
    # A100 at 16K keys (164 KiB): the block softmax holds its row in L2, not shared memory
    # (below), so the GEMM kernels' 64 KB are the most; the row staged in shared memory was
    # 131076 B (four 16K-key rows at 2 B and the max and sum)
    ("a100", 16384, 64 * 1024),
])
def test_standard_kernels_hold_shared_memory_in_turn(arch_name, seq, smem):
    # standard attention's three kernels run one after another: shared memory holds one
    # kernel's tiles at a time (Mapping.phases), so it evaluates where the summed tiles did not
    arch = load_arch(arch_name)
    r = evaluate_gpu("standard", Attention(1, 16, 128, seq), arch)
    assert r["tiles"] == [128, 128] and r["latency_s"] > 0
    m = standard(Attention(1, 16, 128, seq), arch).mapping
    assert sorted(set(m.phases().values())) == [0, 1, 2]  # QK^T, softmax, PV
    assert resident_bytes(costs(m, arch))["smem"] == smem <= arch.memories["smem"].capacity_bytes


def test_block_softmax_launch_follows_pytorch():
    # SoftMax.cu (PyTorch 2.3), SoftMax_getBlockSize(ILP = 8 2-byte elements, dim_size): half of
    # min(dim_size / 8, 1024), rounded up to a power of two, at least a warp
    assert [softmax_block_threads(k, 2) for k in (1040, 2048, 4096, 8192, 65536)] == \
        [128, 128, 256, 512, 512]
    # CTAs in flight: H100 132 SMs x 4 CTAs of 16 warps (64 warps an SM) = 528, A6000 84 SMs x
    # 3 (48 warps) = 252; the mapping's wave is the largest divisor of the rows within them
    # (512, 128), so its L2 check never exceeds the rows really in flight
    h100, a100, a6000 = (load_arch(n) for n in ("h100", "a100", "a6000"))
    assert softmax_slots(Attention(1, 16, 128, 8192), h100, 2) == 528
    assert softmax_wave(Attention(1, 16, 128, 8192), h100, 2) == 512
    assert softmax_wave(Attention(1, 16, 128, 8192), a6000, 2) == 128
    # L2 or HBM re-reads from the rows in flight, not the wave's divisor: A100 at 45056 keys
    # holds 108 x 4 rows of 88 KiB = 37.1 MiB < 40 MiB (a 512-row divisor would be 44 MiB); at
    # 49152 keys 40.5 MiB does not fit; a head of 256 rows over 64K keys shares L2 with the
    # other heads' rows in flight (528 on H100: 66 MiB > 50 MiB)
    assert softmax_rows_fit_l2(Attention(1, 16, 128, 45056), a100, 2)
    assert not softmax_rows_fit_l2(Attention(1, 16, 128, 49152), a100, 2)
    assert not softmax_rows_fit_l2(Attention(1, 16, 128, 256, keys=65536), h100, 2)


def _passes(arch_name: str, n: int, heads: int = 16) -> tuple[float, dict]:
    """HBM traffic of standard attention (batch 1, `heads` heads of 128) in N x N 2-byte passes
    beside Q, K, V and O read or written once, and the per-Einsum bytes."""
    r = evaluate_gpu("standard", Attention(1, heads, 128, n), load_arch(arch_name))
    per_pass, qkvo = heads * n * n * 2, 4 * heads * n * 128 * 2
    return (r["hbm_bytes"] - qkvo) / per_pass, {e["einsum"]: e["bytes"] for e in r["einsums"]}


@pytest.mark.parametrize("arch_name, n, heads, passes", [
    # the block softmax's rows in flight fit L2: its second and third passes over a row hit L2,
    # so S and P are each written and read once in HBM (A6000 at 8K: 252 rows x 16 KiB = 3.9 MiB
    # of 6 MiB; A100 at 32K: 432 x 64 KiB = 27 MiB of 40 MiB, at 45056 keys 37.1 MiB); the long
    # rows with 2 heads, whose S and P fit the 80 GB HBM (16 heads' would not)
    ("a6000", 8192, 16, 4), ("a100", 32768, 16, 4), ("a100", 45056, 2, 4),
    # they do not (A6000 at 16K: 252 x 32 KiB = 7.9 MiB; A100 at 64K: 54 MiB): every pass reads
    # S from HBM, three reads of S instead of one; evaluated, no longer refused for shared memory
    ("a6000", 16384, 16, 6), ("a100", 65536, 2, 6),
])
def test_block_softmax_rereads_its_row_from_l2_where_the_rows_fit(arch_name, n, heads, passes):
    assert _passes(arch_name, n, heads)[0] == pytest.approx(passes)


def test_block_softmax_rereads_are_l2_traffic_on_h100():
    # H100 at 8K (512 rows x 16 KB = 8 MiB of 50 MiB in L2): the max pass brings each score in
    # from HBM through L2, the exponentials' two passes read it from L2 alone, not from HBM nor
    # shared memory (the kernel loads global memory into registers; shared memory serves only
    # the block reductions' row max and sum)
    passes, per = _passes("h100", 8192)
    score_bytes = 16 * 8192 * 8192 * 2
    assert passes == pytest.approx(4)
    assert per["GM"]["hbm"] == score_bytes and per["GM"]["l2"] == 2 * score_bytes  # fill + read
    for k in ("SN", "SR"):
        assert per[k]["hbm"] == 0 and per[k]["l2"] == score_bytes
        assert per[k]["smem"] == 16 * 8192 * 2  # the row max, read once a row
    arch = load_arch("h100")
    m = standard(Attention(1, 16, 128, 8192), arch).mapping
    assert resident_bytes(costs(m, arch))["l2"] == 512 * 8192 * 2


@pytest.mark.parametrize("arch_name, n, causal", [
    ("h100", 8192, False), ("a6000", 16384, False), ("a6000", 2048, True)])
def test_block_softmax_plain_and_compiled_agree(arch_name, n, causal):
    # the L2-held row and the HBM re-reads, scored by the plain model and the Numba path
    arch = load_arch(arch_name)
    m = standard(Attention(1, 4, 64, n, causal=causal), arch).mapping
    batch = compile_mapping(m, arch, ArchArrays.from_arch(arch))
    assert estimate(ArchArrays.from_arch(arch), batch).latency_s[0] == pytest.approx(
        plain_evaluate(m, arch)["latency_s"], rel=1e-9)


def _gemm_blocks(m, key: str) -> dict[str, int]:
    """Output tiles of a GEMM kernel's block at L2 and the rank of each loop over the blocks at
    HBM (empty: the whole grid at L2)."""
    em = next(x for x in m.einsums if x.einsum == key)
    out = next(e for e in m.cascade.einsums if e.key == key).out_ranks
    return {lp.rank: lp.factor for lp in em.levels[0].loops if lp.rank in out}


def test_gemm_kernels_beyond_l2_run_in_wave_blocks():
    # A6000 at 32K keys, 2 heads of 128 (16 heads' S and P would not fit its 48 GB): QK^T's
    # whole grid holds a 64-deep chunk of a head's whole Q and K in L2 (4 + 4 MiB of 6 MiB), PV
    # its whole 8 MiB O; refused before. In blocks of one wave (84 SMs: 64 tiles, the nearest
    # divisor of the 256 x 256 tiles, square 8 x 8; PV's 256 x 1 tiles, 64 x 1) L2 holds one
    # block's: QK^T reads Q and K 256 / 8 = 32 times (once per block column / row), PV reads V
    # 256 / 64 = 4 times; S, P and O move once
    arch, n, heads = load_arch("a6000"), 32768, 2
    a = Attention(1, heads, 128, n)
    m = standard(a, arch).mapping
    assert _gemm_blocks(m, "QK") == {"p": 32, "m": 32} and _gemm_blocks(m, "AV") == {"p": 4}
    assert resident_bytes(costs(m, arch))["l2"] <= arch.memories["l2"].capacity_bytes
    nd, nn = heads * n * 128 * 2, heads * n * n * 2  # an N x d and an N x N tensor, all heads
    per = {e["einsum"]: e["bytes"]["hbm"] for e in evaluate_gpu("standard", a, arch)["einsums"]}
    assert per["QK"] == nn + 2 * 32 * nd and per["AV"] == nn + 4 * nd + nd
    # the whole grid (what no longer fits) reads each operand once: 62 + 3 N x d reads fewer
    whole = _kernels(a, arch, m.cascade, (("GM", "SN", "SD", "SR", "A"),), ("QK", "AV"), "hbm",
                     frozenset())
    assert resident_bytes(costs(whole, arch))["l2"] > arch.memories["l2"].capacity_bytes
    extra = sum(c.read_bytes["hbm"] for c in costs(m, arch).values()) - \
        sum(c.read_bytes["hbm"] for c in costs(whole, arch).values())
    assert extra == (2 * 31 + 3) * nd


def test_gemm_kernels_that_fit_l2_keep_the_whole_grid():
    # A6000 at 16K: QK^T's chunks 2 + 2 MiB, PV's O 4 MiB fit 6 MiB: every tile at L2, each
    # operand read once (as before the wave blocks)
    arch, n = load_arch("a6000"), 16384
    m = standard(Attention(1, 16, 128, n), arch).mapping
    assert _gemm_blocks(m, "QK") == {} and _gemm_blocks(m, "AV") == {}
    per = _passes("a6000", n)[1]
    assert per["QK"]["hbm"] == 16 * n * n * 2 + 2 * 16 * n * 128 * 2


@pytest.mark.parametrize("mapper", [standard, standard_backward])
def test_gemm_wave_blocks_plain_and_compiled_agree(mapper):
    # A6000 at 32K, head dim 64: QK^T's (dP's) chunks of the whole Q and K (dO and V) are
    # 4 + 4 MiB, so they run in blocks; scored by the plain model and the Numba path alike
    arch = load_arch("a6000")
    m = mapper(Attention(1, 4, 64, 32768), arch).mapping
    assert _gemm_blocks(m, "QK" if mapper is standard else "dP") == {"p": 32, "m": 32}
    batch = compile_mapping(m, arch, ArchArrays.from_arch(arch))
    assert estimate(ArchArrays.from_arch(arch), batch).latency_s[0] == pytest.approx(
        plain_evaluate(m, arch)["latency_s"], rel=1e-9)


def test_decode_mappers_take_one_query_tile_and_padding_is_work(h100):
    # the split-KV mappings model one query tile (kBlockM = 64 rows) a head: more queries are
    # refused in one line; padding below one op per op is refused where a mapping is built
    with pytest.raises(MappingError, match="at most 64 queries"):
        split_k(Attention(1, 32, 128, 65, keys=8192), h100, 4, 128)
    with pytest.raises(MappingError, match="padding must be >= 1"):
        EinsumMapping("BQK", "tensor_core", (), padding=0.5)
