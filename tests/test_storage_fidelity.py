"""InstInfer (arXiv 2409.04992) published points against the storage model.

Published values: studies/data/instinfer/claims.csv (sources in its SOURCE.md). Tolerance: the
model's value within 25% of the published one (the issue's bar), for every point; nothing in
the model is fitted to any of them (hardware from archsim/presets/instinfer_csd.yaml)."""

from __future__ import annotations

import pytest

from studies import instinfer as study

TOLERANCE = 0.25


@pytest.fixture(scope="module")
def rows():
    return study.rows(["opt-13b"])


@pytest.fixture(scope="module")
def claims(rows):
    return {c["claim"]: c for c in study.claims(rows)}


def within(c: dict) -> bool:
    return abs(c["ratio"] - 1.0) <= TOLERANCE


def test_every_published_point_is_compared(claims):
    assert set(claims) == {p["claim"] for p in study.published()}
    assert all(c["source"] for c in claims.values())


def test_sparse_instinfer_over_flexgen_up_to_11x(claims):
    # "up to 11.1x" over FlexGen (OPT-13B, A6000): the best ratio over batch 1..256. attnsim:
    # half the flash pages at 11.2 GB/s against FlexGen's file path at 2.0 GiB/s
    c = claims["sparse_over_flexgen"]
    assert within(c), c


#: the paper's other throughput points (InstAttention Sec. VI-C, D), each within 25%
PAPER_POINTS = ("dense_over_flexgen_bs64", "sparse_over_dense_bs256",
                "two_drive_dense_over_flexgen", "opt30b_sparse_over_flexgen",
                "llama2_dense_over_flexgen", "llama2_sparse_over_flexgen", "kv_access_share_bs64")


@pytest.mark.parametrize("name", PAPER_POINTS)
def test_paper_throughput_points(claims, name):
    # dense over FlexGen 6.85x at batch 64; SparF over dense 2.08x at 256 (half the pages read);
    # two drives: dense at 256 over FlexGen's best (32) 10.5x (FlexGen's file path does not
    # scale with SSDs); OPT-30B and Llama-2-13B ratios; attention 80.7% of the dense step
    assert within(claims[name]), claims[name]


def test_flexgen_gains_nothing_from_a_second_ssd(rows):
    # Sec. VI-C: "traditional offloading schemes exhibit negligible performance improvement
    # despite larger PCIe bandwidth aggregated by multiple SSDs" (the host file path binds)
    one, two = (study.step("flexgen", "opt-13b", 32, n)["tokens_per_s"] for n in (1, 2))
    assert two / one < 1.05


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known gap: InstAttention Sec. VI-E: 20 CSDs give 8.99x (dense) and 7.29x (sparse) of one "
    "CSD at batch 256; attnsim gives 18.8x and 17.7x. Its step is ~99% flash reads (GPU layers "
    "33 ms of 7.2 s at batch 64), while the paper's dense step at batch 64 is 80.7% KV access "
    "(Fig. 18): ~19% of the paper's step is something the text does not name (per-step "
    "scheduling, NVMe commands or the CSD's softmax), so nothing sublinear is modelled. Lead "
    "checked (SOURCE.md, 'The emulated testbed'): the drives were, by inference, NVMeVirt "
    "emulations (Sec. V-B), which serve reads from reserved host memory (snu-csl/nvmevirt io.c "
    "memcpy), so one host's DDR4 caps 20 of them: at one DRAM read per flash byte and the "
    "preset's 140.8 GB/s, <=12.1x and 11.6x. The published points imply 104 and 85 GB/s per "
    "byte; the per-byte cost (the paper's 430 GB of KV cannot sit in 96 GB, so its emulator "
    "aliased or dropped data) and the DIMM population are not published, so nothing is fitted"))
@pytest.mark.parametrize("name", ("drives_20_over_1_dense", "drives_20_over_1_sparse"))
def test_twenty_drives(claims, name):
    assert within(claims[name]), claims[name]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known gap: InstAttention Sec. VI-C: OPT-30B, InstA at bs=128 over FlexGen at bs=8, 4.09x; "
    "attnsim 5.19x (+27%; the sparse ratio, 10.3 vs 9.39x, passes). The paper ran OPT-30B on "
    "two A6000s without saying how the layers are split; attnsim gives one GPU both memories"))
def test_opt30b_dense_over_flexgen(claims):
    assert within(claims["opt30b_dense_over_flexgen"]), claims["opt30b_dense_over_flexgen"]


def test_kv_cache_of_a_13b_model(claims):
    # "a 13B model (40 layers), 2048 tokens, batch 16: approximately 26GB" (paper's example)
    assert within(claims["kv_cache_gb"]), claims["kv_cache_gb"]


def test_pcie_traffic_falls_by_half_the_context(claims):
    # storage.md: in-storage attention cuts PCIe traffic by about s/2 (only q, k, v and the
    # output cross instead of s keys and s values); s = 2048 -> 1024x
    assert within(claims["pcie_traffic_reduction"]), claims["pcie_traffic_reduction"]


def test_dense_instinfer_about_5_percent_above_deepspeed(claims):
    # Sec. VI-C: dense in-storage attention "only outperforms the maximal achievable throughput
    # of DeepSpeed (at bs=16) by 4.6%"; the ratio of the best throughputs within 25% of 1.046. attnsim's DeepSpeed is
    # ZeRO-Inference as its code runs (FP32 cache in host DRAM, attention on the CPU at
    # FlexGen's fitted CPU-attention rate, serial with the GPU): host DRAM holds 16 of the
    # sweep's sequences, and one drive's 11.2 GB/s of flash then matches the CPU's attention
    assert within(claims["dense_over_deepspeed"]), claims["dense_over_deepspeed"]


def test_deepspeed_model_against_zero_inference_own_benchmark(claims):
    # DeepSpeedExamples zero_inference/README.md: OPT-30B with KV offload, no quantization,
    # 12.50 tokens/s at batch 128 (A6000, 252 GB host DRAM, prompt 512 + 32 generated); an
    # independent check of the same DeepSpeed model (weights stream from host DRAM), within 25%
    assert within(claims["zero_inference_opt30b"]), claims["zero_inference_opt30b"]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known gap: ZeRO-Inference's README gives 3.59 tokens/s for OPT-66B (KV offload, batch 40, "
    "A6000, 252 GB host); attnsim gives 4.63 (+29%). Its 132 GB of weights cross PCIe x16 every "
    "step, which attnsim runs at 32 GB/s (4.1 s of 8.6 s); the A6000 run script "
    "(run_opt66b_a6000.sh: --cpu-offload --pin-memory 0 --kv-offload) leaves them in pageable "
    "memory, whose host-to-device rate on that host is not published; 3.59 implies ~21 GB/s. "
    "Not fitted (OPT-30B, run the same way, weights 18% of its step, passes)"))
def test_deepspeed_model_against_zero_inference_opt66b(claims):
    # same table: OPT-66B, KV offload, no quantization, "3.59 (bsz=40, cpu_offload)"; 25%
    assert within(claims["zero_inference_opt66b"]), claims["zero_inference_opt66b"]


def test_deepspeed_collapses_once_its_kv_spills(claims, rows):
    # the qualitative claim: DeepSpeed's throughput collapses when the OS swaps its KV buffer
    # to the SSD (Sec. VI-C: at bs=32 after bs=16; attnsim: host DRAM holds 28 FP32 sequences)
    c = claims["deepspeed_spill_collapse"]
    assert c["modelled"] > 10.0 and "batch 16 in host DRAM vs 32" in c["how"], c
    spilled = [r for r in rows if r["system"] == "deepspeed" and r["kv_home"] == "swap"]
    assert spilled and all(not r["oom"] for r in spilled)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known gap: InstAttention Sec. VI-C: at bs=32 DeepSpeed 'incurs the kernel swapping to "
    "SSDs, which results in a 32.6x throughput degradation compared with bs=16'; attnsim reads "
    "the swapped FP32 cache back at Linux's measured sequential swap-in rate (414 MB/s on an "
    "NVMe disk, VMA-readahead commit message) for every decode step and gives 57x (+76%). Only "
    "the last 216 of the 1024 steps outgrow 96 GB (the cache grows with the context), which "
    "would give 17.5x (-46%): the paper's 32.6x lies between, and how much of the cache the "
    "kernel keeps resident while the CPU scans it (and how much DRAM the host leaves free) is "
    "not published; not fitted"))
def test_deepspeed_collapse_about_32x(claims):
    assert within(claims["deepspeed_spill_collapse"]), claims["deepspeed_spill_collapse"]
