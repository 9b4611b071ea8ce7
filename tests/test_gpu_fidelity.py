"""GPU-tile model against published FlashAttention figures (studies/data/flashattention/,
SOURCE.md names each source). Tolerance 10% (the issue's bar) unless stated; gaps the honest
model does not close are strict xfails with their reason."""

from __future__ import annotations

import pytest

from archsim.spec import load_arch
from mappers.gpu import Attention
from studies import flashattention as fa
from studies.gpu_evaluate import evaluate_gpu

TOL = 0.10


@pytest.fixture(scope="module")
def h100():
    return load_arch("h100")


def published(kernel: str) -> list[tuple[int, float]]:
    # the FA3 paper's chart at head dim 128, non-causal, by sequence length
    return [(int(r["seq_len"]), float(r["published_tflops"]))
            for r in fa.published("h100_forward.csv")
            if r["kernel"] == kernel and r["head_dim"] == "128" and r["causal"] == "false"]


def shapes(kernel: str) -> list[tuple[int, bool, float]]:
    # the published 16K points beyond head dim 128 non-causal: head dims 64 and 256, causal
    return [(int(r["head_dim"]), r["causal"] == "true", float(r["published_tflops"]))
            for r in fa.published("h100_forward.csv") if r["kernel"] == kernel
            and (r["head_dim"], r["causal"]) != ("128", "false")]


def tflops(kernel: str, n: int, arch, head_dim: int = 128, causal: bool = False) -> float:
    # the FA3 paper's shapes: batch x seq = 16K tokens, heads x head dim = 2048
    a = Attention(16384 // n, 2048 // head_dim, head_dim, n, causal=causal)
    return evaluate_gpu(kernel, a, arch)["tflops"]


@pytest.mark.parametrize("n, pub", published("fa2"))
def test_fa2_h100_forward_within_10pct(h100, n, pub):
    # FA3 paper, H100 SXM5 BF16 forward, head dim 128, non-causal (FlashAttention-2 bars)
    assert tflops("fa2", n, h100) == pytest.approx(pub, rel=TOL)


FA3_GAP = (
    "the model's FA3 overlaps softmax with the GEMMs as documented (ping-pong of two consumer "
    "warpgroups, intra-warpgroup pipelining; FA3 paper Sec. 3.1-3.2), so it is tensor-core bound "
    "at the H100's measured sustained ceiling (the spec's attainable 0.839: 830 TFLOP/s, the best "
    "dense GEMM logged on the one H100 whose GEMMs are known, h100_gemm.csv, held wave by wave): "
    "794-825 TFLOP/s at head dim 128 (FA3 paper ~480-648), 803-821 at head dims 64 and 256 and "
    "causal (~473-756). Measured FA3 on H100s disagree by more than the bar: 757 at 8K on that "
    "box (2026-06-02; model +8.5%), 639 at 8K and 541-628 at 1K-4K in tritonbench (2026-09-03, "
    "its FA3 version not stated; model +29..52%), 632 at 4.5K (2024-12-05; +26%), 465 at "
    "8K on a 'devgpu' box its own thread blames (2025-01-23, FP16; +76%; "
    "h100_measured.csv), 621 at 16K (gpu.md, peaks.csv), the paper ~646 at 8K "
    "(h100_forward.csv); the other boxes' clocks, "
    "power limits and GEMM ceilings are not stated, so no ceiling can be tied to them. Both "
    "shape series also fall at short lengths (tritonbench 541 at 1K vs 639 at 8K, the paper "
    "~480 at 512 vs 646) where the model stays flat: it has no per-CTA cost (no memory latency, "
    "no prologue or epilogue), and no source states one; nothing is fitted (docs/gpu-model.md)")


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=FA3_GAP)
@pytest.mark.parametrize("n, pub", published("fa3"))
def test_fa3_h100_forward_within_10pct(h100, n, pub):
    # FA3 paper, H100 SXM5 BF16 forward, head dim 128, non-causal
    assert tflops("fa3", n, h100) == pytest.approx(pub, rel=TOL)


@pytest.mark.parametrize("d, causal, pub", [
    s if s[:2] == (256, False) else pytest.param(*s, marks=pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=FA3_GAP)) for s in shapes("fa3")])
def test_fa3_h100_other_shapes_within_10pct(h100, d, causal, pub):
    # FA3 paper Fig. 5 at 16K (head dims 64 and 256; causal), chart values as transcribed
    # (studies/data/flashattention/SOURCE.md); at head dim 256 (exps a quarter of the GEMM
    # time) the published ~756 is near the tensor cores' ceiling, as the model is (821: +8.7%)
    assert tflops("fa3", 16384, h100, d, causal) == pytest.approx(pub, rel=TOL)


def test_h100_tensor_ceiling_stays_the_best_measured_gemm():
    # a data-consistency guard, not validation: h100.yaml's attainable share of the 989 TFLOP/s
    # peak must stay the best dense GEMM logged in h100_gemm.csv (830, 2026-06-02)
    c = fa.gemm_ceiling()
    assert c["peak_tflops"] == pytest.approx(989.4, abs=0.1)
    assert c["model_ceiling_tflops"] == pytest.approx(c["best_gemm_tflops"], rel=0.002)


MEASURED = fa.published("h100_measured.csv")


@pytest.fixture(scope="module")
def measured():
    return fa.measured_rows()


def _measured_param(i: int, r: dict):
    # FA3 is within the bar only on the box whose GEMM ceiling the preset holds (FA3_GAP)
    gap = r["kernel"] == "fa3" and r["run"] != "benchmark_attn.py"
    return pytest.param(i, id=f"{r['kernel']}-b{r['batch']}h{r['heads']}-{r['seq_len']}"
                              f"{'-causal' if r['causal'] == 'true' else ''}-{r['date']}",
                        marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                                                reason=FA3_GAP) if gap else ())


@pytest.mark.parametrize("i", [_measured_param(i, r) for i, r in enumerate(MEASURED)])
def test_h100_measured_within_10pct(measured, i):
    # dated third-party H100 measurements (h100_measured.csv, SOURCE.md): flash-attention's
    # benchmark_attn.py at batch 2, 16 heads of 128, 8K (2026-06-02: FA3 +8.5%, causal +8.4%,
    # FA2 -8.8%, near the bar), and tritonbench runs: FA3 at batch 4 x 48 heads, 1K-8K
    # (2026-09-03), FA3 and PyTorch SDPA at 1 x 24 heads, 4608 (2024-12-05; SDPA +3% against
    # fa2: the thread implies SDPA's FlashAttention-2 backend ran, SOURCE.md says why)
    row, r = MEASURED[i], measured[i]
    if (r["kernel"], r["batch"], r["seq_len"]) != (row["kernel"], int(row["batch"]),
                                                   int(row["seq_len"])):
        pytest.fail(f"measured_rows()[{i}] is not the CSV's row {i}")  # not caught by the xfail
    assert r["tflops"] == pytest.approx(float(row["measured_tflops"]), rel=TOL)


@pytest.mark.parametrize("d", [64, 128, 256])
def test_fa3_exp_to_gemm_time_is_64_over_head_dim(h100, d):
    # FA3 paper Sec. 3.1: at head dim 128 "exponential can take 50% of the cycle compared to
    # matmul" (at the peaks: MUFU 16/clk/SM vs wgmma 2048 MACs/clk/SM, 2 d MACs per exp); the
    # running max's rescale adds one exp per row per key tile, 1 / Bc more. With the softmax
    # overlapped the SFUs and CUDA cores stay under the tensor cores, which run at their
    # sustained ceiling (attainable x peak), so the documented schedule is tensor-core bound
    # at every head dim FA3 ships
    r = evaluate_gpu("fa3", Attention(1, 2048 // d, d, 16384), h100)
    u, bc = r["utilisation"], r["tiles"][1]
    assert u["sfu"] / u["tensor_core"] == pytest.approx(64 / d * (1 + 1 / bc), rel=0.01)
    busy_tensor = u["tensor_core"] / h100.computes["tensor_core"].attainable
    assert 0.97 <= busy_tensor <= 1.0  # the last wave's CTAs, fewer than the cap, run under it
    assert max(u["sfu"], u["cuda_core"]) <= busy_tensor


FA2_D256 = pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "FA2 at head dim 256 is 372 (causal 368) TFLOP/s in the model vs 326 (298) published: the "
    "model's FA2 (64 x 64 tiles there) is bound by mma.sync at the assumed Ampere rate and "
    "gains with head dim (half the exps per MAC of head dim 128), where the published FA2 falls "
    "from 370 at head dim 128 to 326; no sourced mechanism for the fall (register spills, the "
    "kernel's warp layout) is modelled"))


@pytest.mark.parametrize("d, causal, pub", [
    pytest.param(*s, marks=FA2_D256) if s[0] == 256 else s for s in shapes("fa2")])
def test_fa2_h100_other_shapes_within_10pct(h100, d, causal, pub):
    # FA3 paper Fig. 5 at 16K, FlashAttention-2 bars (head dims 64 and 256; causal)
    assert tflops("fa2", 16384, h100, d, causal) == pytest.approx(pub, rel=TOL)


PEAK_SEQS = (512, 1024, 2048, 4096, 8192, 16384)


@pytest.mark.parametrize("row", [
    pytest.param(r, id=f"{r['kernel']}-{r['arch']}", marks=pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=FA3_GAP) if r["kernel"] == "fa3" else ())
    for r in fa.published("peaks.csv")])
def test_published_peaks_within_10pct(row):
    # peaks.csv: FA2 paper, forward up to 230 TFLOP/s on A100 and about 335 on H100; an
    # independent H100 run of FA3 at 16K, 620.7 (gpu.md); the model's best over the FA3
    # benchmark's lengths (FA3: at 16K, the run's length)
    arch = load_arch(row["arch"])
    seqs = (16384,) if row["kernel"] == "fa3" else PEAK_SEQS
    best = max(tflops(row["kernel"], n, arch) for n in seqs)
    assert best == pytest.approx(float(row["published_tflops"]), rel=TOL)


# FA2 paper Fig. 5 (A100 80GB SXM4, FP16 forward, 16K tokens, hidden 2048), chart values as
# transcribed in public paper notes (studies/data/flashattention/a100_forward.csv, SOURCE.md).
# A point's reads are checked against its own backward (Fig. 6) and fwd + bwd (Fig. 4) reads:
# the benchmark charts fwd + bwd over the sum of the two times (fa.chart_consistency)
A100_POINTS = fa.published("a100_forward.csv")
CHART_TOL = 0.05


@pytest.fixture(scope="module")
def a100_rows():
    return fa.chart_rows("a100")


def _a100_ids(kernel: str) -> list[tuple[int, str]]:
    return [(i, f"d{r['head_dim']}-{'causal' if r['causal'] == 'true' else 'full'}-{r['seq_len']}")
            for i, r in enumerate(A100_POINTS) if r["kernel"] == kernel]


A100_SUSPECT = pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "chart read suspect: the transcription's forward, backward and fwd + bwd bars of this point "
    "disagree by more than 5% under the benchmark's identity 3.5 / fwd_bwd = 1 / fwd + 2.5 / bwd "
    "(flash-attention benchmarks/benchmark_flash_attention.py), so the forward read is off; "
    "model FA2 158 / 165 (d 64, 512 / 1K), 196 / 206 (d 128, 512 / 1K), 142 (d 64 causal, 2K), "
    "157..208 (d 128 causal, 1K..16K) vs reads 128 / 149, 122 / 157, 167, 126..148; the forward "
    "implied by the other two reads is 176 / 194, 209 / 198, 122, 161..245 (docs/gpu-model.md)"))
A100_D64 = pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "FA2 at head dim 64 is 168-171 TFLOP/s (causal 153-165 from 4K) in the model vs 192-193 "
    "(177-185) read, 11-14% slow, with the chart's reads self-consistent: the model's FA2 is one "
    "sequential stage (exps on the SFUs 28% of its time at 16K, other softmax work on the CUDA "
    "cores 17%, mma.sync 55%), where the kernel's four warps run split-Q without communicating "
    "(FA2 paper Sec. 3.3), so one warp's softmax can issue beside another's MMAs; the published "
    "figure needs ~11% of the time hidden, and no source quantifies that overlap (H100 FA2 at "
    "head dim 64 is 9.6% slow for the same reason)"))
A100_D128_CAUSAL_512 = pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "FA2 causal head dim 128 at 512 is 133 TFLOP/s in the model vs 108 read (+23%): the model "
    "takes its fastest tile (64 x 64), the released kernel runs 128-row tiles at head dim 128 "
    "(flash-attention flash_fwd_launch_template.h), whose diagonal tiles add 11% more keys at "
    "512 (by hand (512 + 128) / (512 + 64)); per-CTA fixed costs (prologue, memory latency) at "
    "8 key tiles a CTA are not modelled and no source states them"))


def _a100_mark(i: int):
    r = A100_POINTS[i]
    d, causal, n = int(r["head_dim"]), r["causal"] == "true", int(r["seq_len"])
    if abs(fa.chart_consistency(r) - 1) > CHART_TOL:
        return A100_SUSPECT
    if d == 64 and n >= 2048:
        return A100_D64
    if d == 128 and causal and n == 512:
        return A100_D128_CAUSAL_512
    return None


@pytest.mark.parametrize("i", [
    pytest.param(i, marks=m, id=name) if (m := _a100_mark(i)) else pytest.param(i, id=name)
    for i, name in _a100_ids("fa2")])
def test_fa2_a100_forward_within_10pct(a100_rows, i):
    # FA2 paper Fig. 5, FlashAttention-2 bars (head dims 64 and 128, with and without the
    # causal mask, 512..16K), chart reads (~) from one public transcription; 10% bar
    row = a100_rows[i]
    assert row["tflops"] == pytest.approx(row["published_tflops"], rel=TOL)


def test_a100_chart_reads_agree_where_the_model_is_held_to_them():
    # the transcription's reads of the points tested as passing satisfy the benchmark's
    # fwd / bwd / fwd + bwd identity within 5%: what passes is held to a self-consistent read
    held = {name for i, name in _a100_ids("fa2") if _a100_mark(i) is None}
    assert held == {"d128-full-2048", "d128-full-4096", "d128-full-8192", "d128-full-16384",
                    "d64-causal-512", "d64-causal-1024"}


def test_standard_is_slower_than_fa2_on_a100(a100_rows):
    # FA2 paper Fig. 5: PyTorch 10..73 TFLOP/s, below FA2 at every point it ran (OOM from 8K)
    fa2 = {(r["head_dim"], r["causal"], r["seq_len"]): r["tflops"] for r in a100_rows
           if r["kernel"] == "fa2"}
    for r in a100_rows:
        if r["kernel"] == "standard":
            assert r["tflops"] < fa2[r["head_dim"], r["causal"], r["seq_len"]]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "standard on A100 is 58-64 (d 64) and 104-127 (d 128) TFLOP/s in the model vs 29-37 and "
    "42-73 read (1.7-2.5x fast), causal 17-19 and 33-37 vs 10 and 15-19 (1.7-2.2x; with the "
    "benchmark's attention_pytorch mask add, scores + causal_mask, its own kernel: 7 N x N "
    "passes instead of 4, the mask read per head): the H100 gap (S, S' and P through HBM bound "
    "at peak bandwidth; the rearrange copies of q, k, v and the kernels' achieved bandwidth not "
    "modelled); the d 128 non-causal reads fail the chart check by 9-33%"))
@pytest.mark.parametrize("i", [pytest.param(i, id=name) for i, name in _a100_ids("standard")])
def test_standard_a100_forward_within_10pct(a100_rows, i):
    # FA2 paper Fig. 5, Pytorch bars, chart reads (~) from the same transcription
    row = a100_rows[i]
    assert row["tflops"] == pytest.approx(row["published_tflops"], rel=TOL)


def test_standard_is_slower_than_fa2_at_every_length(h100):
    # FA3 paper chart: standard (PyTorch) 74..139 TFLOP/s, below FA2 at every length
    for n, pub in published("standard"):
        assert tflops("standard", n, h100) < tflops("fa2", n, h100)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "standard is 172, 191, 202, 208, 211 TFLOP/s at 512..8K vs the FA3 paper's 74, 100, 119, "
    "133, 139 (1.5-2.3x fast). The model runs the kernels of the benchmark's attention_pytorch "
    "(flash-attention benchmarks/benchmark_flash_attention.py; PyTorch 2.3.0, FA3 paper App. "
    "C.1): baddbmm with alpha in its epilogue, softmax on 2-byte scores (persistent up to 1024 "
    "keys, else the block kernel with recomputed exponentials), no dropout kernel at p = 0 "
    "(Dropout.cpp returns the input), a bmm; S and P each written and read once in HBM, which "
    "binds at 3.35 TB/s (4 N x N passes: 5.1 of the model's 5.2 ms at 8K; published 7.9 ms). "
    "Not modelled: the rearrange/einsum copies of q, k, v out of the packed qkv (six N x d "
    "tensors more traffic, ~0.4 GB: by hand ~132 TFLOP/s at 512, 2% at 8K) and the kernels' "
    "achieved fraction "
    "of peak bandwidth, which no source states (docs/gpu-model.md)"))
@pytest.mark.parametrize("n, pub", published("standard"))
def test_standard_h100_forward_within_10pct(h100, n, pub):
    # FA3 paper, H100 SXM5 forward, head dim 128, non-causal (standard attention, PyTorch)
    assert tflops("standard", n, h100) == pytest.approx(pub, rel=TOL)


def test_standard_softmax_recomputes_exponentials_beyond_1024_keys(h100):
    # PyTorch's softmax (aten/src/ATen/native/cuda/SoftMax.cu, PyTorch 2.3): the persistent warp
    # kernel up to 1024 2-byte keys (one exp per score), else cunn_SoftMaxForward, whose
    # epilogue recomputes exp: twice the exps per score; its re-reads of a row are L2 hits, so
    # HBM bytes stay 4 N x N passes (S, P each written and read once) beside Q, K, V, O
    def sfu_ops(n):
        r = evaluate_gpu("standard", Attention(16384 // n, 16, 128, n), h100)
        return sum(e["ops"].get("exp", 0) for e in r["einsums"]) / (16384 * 16 * n), r
    short, _ = sfu_ops(1024)
    long, r = sfu_ops(2048)
    assert short == pytest.approx(1) and long == pytest.approx(2)
    assert r["hbm_bytes"] == pytest.approx((4 * 2048 + 4 * 128) * 2048 * 8 * 16 * 2)


@pytest.fixture(scope="module")
def fa1_rows():
    return {r["kernel"]: r for r in fa.fa1_rows()}


FA1_STANDARD_GAP = (
    "standard fwd + bwd is 45.1 GB vs 40.3 (+12%, over 10%): every kernel of the FA1 "
    "benchmark's PyTorch reference (flash-attention benchmarks/benchmark_flash_attention.py, "
    "2022-05-26: K scaled, QK^T, padding mask, softmax, dropout 0.1, PV, and their autograd "
    "backward) writes and reads its N x N tensors through HBM, 20 N x N passes (the dropout "
    "mask at 1 byte); what the profiled run saved beyond that is not stated (docs/gpu-model.md)")
FA1_FLASH_GAP = (
    "FA1 fwd + bwd is 8.4 GB vs 4.4 (+91%): with the released kernel's blocks (16 x 256: "
    "fmha_*_sm80.cu) and its FP32 O and dQ accumulators (fmha_api.cpp o_tmp, dq_tmp), Q, dO, "
    "the accumulators and row statistics are re-read and re-written in HBM per K/V block "
    "(Tc = 4); the re-reads of a head's query-side tensors (~0.4 MB, 108 heads at once ~42 MB "
    "vs A100's 40 MB L2) partly hit L2, which the model (L2 reuse not tracked across "
    "concurrent heads) does not count (docs/gpu-model.md)")


@pytest.mark.parametrize("kernel", [
    pytest.param("standard", marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=FA1_STANDARD_GAP)),
    pytest.param("flash", marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=FA1_FLASH_GAP))])
def test_fa1_gpt2_hbm_traffic_within_10pct(fa1_rows, kernel):
    # FA1 paper Fig. 2 left: GPT-2 medium attention on A100, forward + backward HBM traffic:
    # standard 40.3 GB, FlashAttention 4.4 GB (fa1_gpt2.csv)
    row = fa1_rows[kernel]
    assert row["hbm_gb"] == pytest.approx(row["published_hbm_gb"], rel=TOL)


def test_fa1_traffic_orders_as_published(fa1_rows):
    # FA1 Fig. 2: FlashAttention moves far less HBM traffic than standard (40.3 / 4.4 = 9.2x)
    # and runs faster (41.7 / 7.3 ms); the model keeps both orders (5.4x fewer bytes)
    std, fl = fa1_rows["standard"], fa1_rows["flash"]
    assert std["hbm_gb"] > 2.5 * fl["hbm_gb"] and std["runtime_ms"] > fl["runtime_ms"]
    # the standard backward moves more than its forward (11.5 vs 8.5 N x N passes)
    assert std["backward_hbm_gb"] > 1.3 * std["forward_hbm_gb"]


def test_fa1_block_sizes_follow_its_rule_and_kernel(fa1_rows):
    # FA1 Algorithm 1 line 1: Bc = ceil(M / 4d), Br = min(Bc, d); A100: M = 164 KiB / 2 B
    # (167,936 B of shared memory: 83,968 FP16 elements, Bc = ceil(83968 / 256) = 328).
    # The released kernels (flash-attention v0.1, fmha_fprop_fp16_kernel.sm80.cu and
    # fmha_dgrad_fp16_kernel_loop.sm80.cu, d = 64, seq > 256) run 256-key blocks, 16 query
    # rows a step, forward and backward: the mapping takes those (both fit on chip)
    from mappers.gpu import fa1_tiles
    assert fa1_tiles(load_arch("a100"), 64) == (64, 328)
    assert fa1_rows["flash"]["tiles"] == [16, 256, 16, 256]
    # where the released kernel does not loop over K/V blocks (256 keys) the paper's rule holds
    a = Attention(8, 16, 64, 256)
    assert evaluate_gpu("fa1", a, load_arch("a100"))["tiles"] == [64, 328]


def test_fa1_forward_rereads_output_per_key_block():
    # FA1's loop order (K/V blocks outer) re-reads and re-writes O per K/V block: more traffic
    # than FA2's order (query tiles outer: Q, K, V, O once each with K/V reused in L2), which
    # meets FA1 Thm 2's lower bound; FA1 forward is Theta(N^2 d^2 / M) and grows with Tc
    a, arch = Attention(64, 16, 64, 1024), load_arch("a100")
    fa2 = evaluate_gpu("fa2", a, arch)["hbm_bytes"]
    assert fa2 == pytest.approx(4 * 64 * 16 * 1024 * 64 * 2)
    fa1 = evaluate_gpu("fa1", a, arch)["hbm_bytes"]
    assert fa1 > 3 * fa2
    # same bytes per tensor, Tc = 16 K/V blocks of 256 instead of 4: Algorithm 1 moves
    # (2 + 3 Tc) N d (K, V once; Q, O read and O written per block; O in FP32 here, twice the
    # bytes), well over 2.5x; the deferred division (AV = RNV / RD) adds to both
    long = Attention(16, 16, 64, 4096)
    assert evaluate_gpu("fa1", long, arch)["hbm_bytes"] > 2.5 * fa1


def test_standard_forward_traffic_follows_the_io_bound():
    # FA1 Thm 2: standard attention moves Theta(N d + N^2) elements: forward, the model's
    # standard writes and reads S and P once each (4 N^2) beside Q, K, V, O (4 N d): a ratio
    # to FA2's 4 N d of 1 + N / d = 17 at N = 1024, d = 64
    a, arch = Attention(64, 16, 64, 1024), load_arch("a100")
    ratio = evaluate_gpu("standard", a, arch)["hbm_bytes"] / evaluate_gpu("fa2", a, arch)["hbm_bytes"]
    assert ratio == pytest.approx(17, rel=0.01)


@pytest.mark.parametrize("n", [1024, 2048])  # the persistent and the block softmax
def test_causal_standard_adds_the_mask_kernel_traffic(n):
    # flash-attention attention_pytorch, causal: scores + causal_mask, its own elementwise
    # kernel (SOURCE.md): S and the (N, N) mask read and S' written, 3 N^2 2-byte passes more a
    # head (the mask read per head), on top of the non-causal kernels' traffic
    arch = load_arch("a100")
    full, causal = (evaluate_gpu("standard", Attention(2, 8, 64, n, causal=c), arch)["hbm_bytes"]
                    for c in (False, True))
    assert causal - full == 3 * n * n * 2 * 2 * 8


@pytest.mark.parametrize("kernel", ["fa2", "fa3"])
def test_shapes_beyond_the_chart_hold_physically(h100, kernel):
    # not fitted to head dim 128: at head dim 64 there is twice as much exp per matmul FLOP,
    # so FA2 (softmax not overlapped) loses throughput and FA3 (overlapped) loses less
    base = tflops(kernel, 8192, h100)
    small = tflops(kernel, 8192, h100, head_dim=64)
    assert small < base * (1.0 if kernel == "fa2" else 1.01)
    if kernel == "fa2":
        assert small / base < 0.9
    # causal: half the FLOPs in a little over half the time (the diagonal tiles in full)
    causal = tflops(kernel, 8192, h100, causal=True)
    assert 0.8 * base < causal < base


@pytest.fixture(scope="module")
def decode():
    # batch 1, 32 heads of 128, context 1K..512K on A100 (LeanAttention's platform)
    rows = fa.decode_rows("a100")
    return rows, {(c["kernel"], c["baseline"], c["context"]): c for c in fa.decode_claims(rows)}


def _claim_ids() -> list[str]:
    return [f"{c['kernel']}_over_{c['baseline']}_{c['context'] or 'sweep'}"
            for c in fa.published("decode.csv")]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "magnitude: the model has FA2 at batch 1 tensor-core bound on 32 SMs (padded 64-row tiles) "
    "and split-K / stream-K HBM bound on all SMs: LeanAttention over FA2 1.75x average and "
    "1.76x at 512K on A100, flat in context, where LeanAttention v1 publishes 2.6x and 8.33x "
    "(growing with context) and Flash-Decoding up to 50x (model 1.73x); LeanAttention over "
    "Flash-Decoding (flash-attention's split heuristic: 4 to 6 splits) 1.05x average, 1.02x at "
    "256K, where the final version publishes 1.73x and 2.18x. Missing: a per-SM streaming "
    "limit with a sourced loaded memory latency, a sourced launch cost, and the published "
    "sweep's exact heads / batch (not found; docs/gpu-model.md bounds what each would give)"))
@pytest.mark.parametrize("idx", range(len(fa.published("decode.csv"))), ids=_claim_ids())
def test_decode_speedups_within_25pct(decode, idx):
    # LeanAttention (arXiv 2405.10480 v1 and final) and Flash-Decoding (blog) speedups,
    # studies/data/flashattention/decode.csv: averages over the sweep or the named context.
    # Tolerance 25%: the published figures are averages over a sweep whose exact shapes the
    # model's (batch 1, 32 heads of 128) only approximates
    rows, claims = decode
    c = fa.published("decode.csv")[idx]
    got = claims[(c["kernel"], c["baseline"], c["context"] or "sweep")]
    assert got["speedup"] == pytest.approx(float(c["published_speedup"]), rel=0.25)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "the model has no fixed cost (launch, first-tile latency) and no sourced one was found: "
    "Flash-Decoding's time follows the K/V bytes, 10.4 us at 1K and 160 us at 16K on A100 "
    "(15.3x), where the blog reports it roughly flat up to 32K at batch 1; at this sweep's "
    "shape (32 heads of 128) the 16K K/V bytes alone take 131 us at full HBM bandwidth, so "
    "flatness also needs the blog's (unread) smaller shape; 'roughly flat' is read here as "
    "within 2x from 1K to 16K, this test's own reading of the blog's words"))
def test_flash_decoding_flat_up_to_32k(decode):
    # Flash-Decoding blog (decode.csv): runtime roughly flat up to 32K keys at batch 1;
    # "flat" tested as within 2x from 1K to 16K (the sweep's points below 32K)
    rows, _ = decode
    t = {r["context"]: r["flash_decoding_s"] for r in rows}
    assert t[16384] < 2 * t[1024]


def test_readme_states_the_h100_forward_figures_this_code_gives():
    # README's validation table, FA2 and FA3 on H100 at head dim 128, 512..16K: the model's
    # TFLOP/s and the chart's as printed, so the table cannot drift from the model
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text().splitlines()
    row = next(x for x in readme if "FA2 on H100, BF16 forward, head dim 128, 512..16K" in x)
    model, published = re.search(r"\| ([\d, ]+) TFLOP/s vs ([\d, ]+):", row).groups()
    forward = fa.forward_rows()
    rows = [r for r in forward if r["kernel"] == "fa2"]
    assert model.split(", ") == [f"{r['tflops']:.0f}" for r in rows]
    assert published.split(", ") == [f"{r['published_tflops']:.0f}" for r in rows]
    fa3 = [r["tflops"] for r in forward if r["kernel"] == "fa3"]
    stated = next(x for x in readme if "FA3 on H100, same shapes" in x)
    assert f"| {min(fa3):.0f}..{max(fa3):.0f} TFLOP/s vs" in stated
