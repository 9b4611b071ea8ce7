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
    # abstract: "up to 11.1x" over FlexGen (OPT-13B, A6000): the best ratio over batch 1..256.
    # attnsim: 1/8 of the KV at 11.2 GB/s of flash against the SSD's 7 GB/s over PCIe x4.
    c = claims["sparse_over_flexgen"]
    assert within(c), c


def test_kv_cache_of_a_13b_model(claims):
    # "a 13B model (40 layers), 2048 tokens, batch 16: approximately 26GB" (paper's example)
    assert within(claims["kv_cache_gb"]), claims["kv_cache_gb"]


def test_pcie_traffic_falls_by_half_the_context(claims):
    # storage.md: in-storage attention cuts PCIe traffic by about s/2 (only q, k, v and the
    # output cross instead of s keys and s values); s = 2048 -> 1024x
    assert within(claims["pcie_traffic_reduction"]), claims["pcie_traffic_reduction"]


def test_dense_instinfer_about_5_percent_above_deepspeed(claims):
    # storage.md: dense in-storage attention "only 4.6% faster than DeepSpeed" at the best of
    # each; the ratio of the best throughputs within 25% of 1.046. attnsim's DeepSpeed is
    # ZeRO-Inference as its code runs (FP32 cache in host DRAM, attention on the CPU at
    # FlexGen's fitted CPU-attention rate, serial with the GPU): host DRAM holds 16 of the
    # sweep's sequences, and one drive's 11.2 GB/s of flash then matches the CPU's attention
    assert within(claims["dense_over_deepspeed"]), claims["dense_over_deepspeed"]


def test_deepspeed_model_against_zero_inference_own_benchmark(claims):
    # DeepSpeedExamples zero_inference/README.md: OPT-30B with KV offload, no quantization,
    # 12.50 tokens/s at batch 128 (A6000, 252 GB host DRAM, prompt 512 + 32 generated); an
    # independent check of the same DeepSpeed model (weights stream from host DRAM), within 25%
    assert within(claims["zero_inference_opt30b"]), claims["zero_inference_opt30b"]


@pytest.mark.xfail(strict=True, reason=(
    "known gap: ZeRO-Inference's README gives 3.59 tokens/s for OPT-66B (KV offload, batch 40, "
    "A6000, 252 GB host); attnsim gives 4.63 (+29%). Its 132 GB of weights cross PCIe x16 every "
    "step, which attnsim runs at 32 GB/s (4.1 s of 8.6 s); run_model.py leaves them in pageable "
    "memory (--pin-memory 0 by default), whose host-to-device rate on that host is not "
    "published; 3.59 implies ~21 GB/s. Not fitted (OPT-30B, weights 18% of its step, passes)"))
def test_deepspeed_model_against_zero_inference_opt66b(claims):
    # same table: OPT-66B, KV offload, no quantization, "3.59 (bsz=40, cpu_offload)"; 25%
    assert within(claims["zero_inference_opt66b"]), claims["zero_inference_opt66b"]


def test_deepspeed_collapses_once_its_kv_spills(claims, rows):
    # the qualitative claim: DeepSpeed's throughput drops several-fold when the KV cache moves
    # from host DRAM to the SSD (attnsim: the CPU's attention rate -> the SSD's 7 GB/s, 3.4x)
    c = claims["deepspeed_spill_collapse"]
    assert c["modelled"] > 3.0, c
    spilled = [r for r in rows if r["system"] == "deepspeed" and r["kv_home"] == "ssd"]
    assert spilled and all(not r["oom"] for r in spilled)


@pytest.mark.xfail(strict=True, reason=(
    "known gap: storage.md gives about 32x for DeepSpeed's collapse on spilling; attnsim "
    "reads the spilled FP32 cache from the SSD at the 980 PRO's 7 GB/s sequential read, the "
    "CPU attending as the pages arrive, giving 3.4x. ZeRO-Inference's KV offload has no NVMe "
    "target (its cache is a pageable host tensor, DeepSpeedExamples model-support.md step 2; "
    "the fork allocates it with torch.empty(pin_memory=False)), so a spill is most likely the "
    "OS paging that buffer in 4 KB pages; 32x implies ~0.9 GB/s from the SSD, below the 980 "
    "PRO's 7 GB/s sequential and 1M-IOPS (4.1 GB/s) random-read ratings, which are reached only "
    "at queue depths paging does not publish; the paper's spill path is not stated; not fitted"))
def test_deepspeed_collapse_about_32x(claims):
    assert within(claims["deepspeed_spill_collapse"]), claims["deepspeed_spill_collapse"]
