"""The storage systems' decode step: capacity, pages, drives, PCIe traffic, plain == Numba."""

from __future__ import annotations

import pytest

from archsim.estimator import ArchArrays
from archsim.spec import load_arch
from mappers.compile import Template
from mappers.plain import costs
from mappers.storage import DecodeShape, decode_step, kv_tokens_read
from studies.llm import llm
from studies.storage import SYSTEMS, evaluate_step, kv_cache_bytes, with_drives

OPT13 = llm("opt-13b")


@pytest.fixture(scope="module")
def arch():
    return load_arch("instinfer_csd")


def test_models_are_sourced_and_sized():
    # OPT-13B: 12.85 B parameters x 2 B (OPT paper Table 1 dimensions); KV per token 0.82 MB
    assert OPT13.weight_bytes() == pytest.approx(25.7e9, rel=0.01)
    assert OPT13.kv_bytes_per_token() == 2 * 40 * 5120 * 2
    assert llm("llama-2-13b").weight_bytes() == pytest.approx(26.0e9, rel=0.01)  # 13.0 B params
    assert llm("OPT-30B").head_dim == 128 and all(m.source for m in map(llm, ("opt-30b",)))
    with pytest.raises(ValueError, match="unknown LLM 'gpt-9'"):
        llm("gpt-9")


def test_reads_round_up_to_whole_flash_pages(arch):
    # 16 tokens per page: 1000 cached tokens read 63 pages = 1008 tokens from flash, while
    # the GPU reads exactly 1000 from its memory; sparse (SparF) reads half the 63 pages from
    # flash (32 pages, 512 tokens) and 1/8 of the tokens from memory (125)
    assert kv_tokens_read(1000, False, True) == 1008 and kv_tokens_read(1000, False, False) == 1000
    assert kv_tokens_read(1000, True, True) == 512 and kv_tokens_read(1000, True, False) == 125
    a = evaluate_step("instinfer", OPT13, 4, 1000, 1, arch)
    b = evaluate_step("instinfer", OPT13, 4, 1008, 1, arch)
    assert a["kv_tokens_read"] == 1008 and a["bytes"]["nand"] == b["bytes"]["nand"]
    # K and V of every head and layer, whole pages: 4 x 40 x 40 x 63 pages x 2 x 4 KB
    assert a["bytes"]["nand"] == pytest.approx(4 * 40 * 40 * 63 * 2 * 4096, rel=1e-3)
    assert evaluate_step("gpu", OPT13, 4, 1000, 1, arch)["kv_tokens_read"] == 1000


def test_head_dims_that_do_not_fill_a_page_are_refused(arch):
    from dataclasses import replace

    from mappers.mapping import MappingError
    odd = replace(OPT13, name="odd", heads=80)  # head dim 64: half a 128-channel page
    with pytest.raises(MappingError, match="does not fill flash pages of 128 channels"):
        evaluate_step("instinfer", odd, 1, 64, 1, arch)
    assert not evaluate_step("deepspeed", odd, 1, 64, 1, arch)["oom"]  # host DRAM: no pages


def test_capacity_decides_out_of_memory(arch):
    # GPU: 25.7 GB of weights + KV of 2048 tokens: batch 8 (13.4 GB) fits 48 GB, 16 (26.8) not
    assert not evaluate_step("gpu", OPT13, 8, 2048, 1, arch)["oom"]
    r = evaluate_step("gpu", OPT13, 16, 2048, 1, arch)
    assert r["oom"] and "exceed gpu_hbm 48 GB" in r["oom_reason"] and r["tokens_per_s"] == 0
    # DeepSpeed (ZeRO-Inference) keeps its cache in FP32: 3.36 GB per sequence of 2048 tokens,
    # so 96 GB of host DRAM hold 28 sequences; beyond, the OS swaps the buffer to the SSD
    assert evaluate_step("deepspeed", OPT13, 28, 2048, 1, arch)["kv_home"] == "host_dram"
    assert evaluate_step("deepspeed", OPT13, 29, 2048, 1, arch)["kv_home"] == "swap"
    # InstInfer: 4 TB of flash (8 x 500 GB) hold 2441 sequences; two drives twice as many
    assert not evaluate_step("instinfer", OPT13, 2048, 2048, 1, arch)["oom"]
    assert evaluate_step("instinfer", OPT13, 4096, 2048, 1, arch)["oom"]
    assert not evaluate_step("instinfer", OPT13, 4096, 2048, 2, arch)["oom"]
    # on 3 drives the busiest holds 14 of the 40 heads: at 64K tokens a sequence puts
    # 53.7 GB x 14/40 = 18.8 GB on it, so its 4 TB hold 212 sequences
    assert not evaluate_step("instinfer", OPT13, 212, 65536, 3, arch)["oom"]
    assert evaluate_step("instinfer", OPT13, 214, 65536, 3, arch)["oom"]
    # the sparse variant also keeps K channel-major: 1.5x the space
    assert kv_cache_bytes(OPT13, 1, 2048, True, True) == 1.5 * kv_cache_bytes(OPT13, 1, 2048,
                                                                              True, False)
    # OPT-30B's 60 GB of weights leave the 48 GB GPU: its 48 layers' 12 x 7168^2 weights
    # stream from host DRAM every step (the embeddings stay out of the decode step)
    r = evaluate_step("instinfer", llm("opt-30b"), 8, 1536, 1, arch)
    assert r["weights_home"] == "host_dram"
    assert r["bytes"]["pcie_x16"] == pytest.approx(48 * 12 * 7168 ** 2 * 2, rel=0.01)


def test_only_q_k_v_and_the_output_cross_pcie_for_instinfer(arch):
    # per layer and sequence: q, the new k and v, and the attention output, hidden x 2 B each
    r = evaluate_step("instinfer", OPT13, 64, 2048, 1, arch)
    assert r["bytes"]["pcie_x4"] == r["bytes"]["pcie_x16"] == 4 * 64 * 5120 * 2 * 40
    # FlexGen moves the whole KV cache (and writes the new k, v) over the SSD's PCIe x4
    f = evaluate_step("flexgen", OPT13, 64, 2048, 1, arch)
    kv = kv_cache_bytes(OPT13, 64, 2048, True, False)
    assert f["bytes"]["ssd_pcie_x4"] == pytest.approx(kv + 2 * 64 * 5120 * 2 * 40)
    assert f["bytes"]["ssd_pcie_x4"] / r["bytes"]["pcie_x4"] == pytest.approx(2048 / 2, rel=0.01)


def test_drives_split_the_heads_and_the_host_link_is_shared(arch):
    tps = {n: evaluate_step("instinfer", OPT13, 256, 1536, n, arch) for n in (1, 2, 3, 10, 13)}
    one = tps[1]["tokens_per_s"]
    assert tps[2]["tokens_per_s"] == pytest.approx(2 * one, rel=0.02)
    # whole heads per drive: 40 heads on 3 drives is 14 + 13 + 13, the busiest sets the time;
    # on 13 drives, 4 heads each fill only 10 of them, as fast as 10 drives
    assert tps[3]["heads_per_drive"] == 14 and tps[3]["drives_used"] == 3
    assert tps[3]["tokens_per_s"] == pytest.approx(one * 40 / 14, rel=0.02)
    assert tps[13]["drives_used"] == 10
    assert tps[13]["tokens_per_s"] == pytest.approx(tps[10]["tokens_per_s"])
    # FlexGen's KV files on N SSDs all pass the host's one file path (2.0 GiB/s, page_cache):
    # one step takes the KV cache's time there, however many SSDs
    f1, f20 = (evaluate_step("flexgen", OPT13, 256, 1536, n, arch)["tokens_per_s"]
               for n in (1, 20))
    bound = 256 / (kv_cache_bytes(OPT13, 256, 1536, True, False) / (2 * 1024 ** 3))
    assert f1 == pytest.approx(f20) == pytest.approx(bound, rel=0.01)
    assert with_drives(arch, "ssd", 4).memories["page_cache"].count == 1
    a4 = with_drives(arch, "nand", 4)
    assert a4.memories["nand"].count == 32 and a4.links["pcie_x4"].count == 4
    assert a4.links["pcie_x16"].count == 1 and a4.computes["engine"].count == 4
    with pytest.raises(ValueError, match="at least 1"):
        evaluate_step("instinfer", OPT13, 1, 16, 0, arch)


@pytest.mark.parametrize("name, group", [("instinfer", 0), ("instinfer", 2), ("flexgen", 0),
                                         ("deepspeed", 0)])
def test_decode_step_plain_equals_numba(arch, name, group):
    # group 2 of 3 heads: two drives, the second group padded with one empty head
    a = with_drives(arch, "nand", 2)
    sys = SYSTEMS[name]
    m = decode_step(sys, DecodeShape(2, 384, 3, 512, False, 4, 48, group), a)
    arrays = ArchArrays.from_arch(a)
    t = Template.from_mapping(m, a, arrays)
    batch, valid = t.compile(t.factors_of(m, a)[None])
    assert valid[0]
    for k, (key, ec) in enumerate(costs(m, a).items()):
        for j, lvl in enumerate(arrays.levels):
            assert batch.read_bytes[0, k, j] == ec.read_bytes.get(lvl, 0.0), (key, lvl)
            assert batch.write_bytes[0, k, j] == ec.write_bytes.get(lvl, 0.0), (key, lvl)
        for j, link in enumerate(arrays.links):
            assert batch.link_bytes[0, k, j] == ec.link_bytes.get(link, 0.0), (key, link)
    assert batch.link_bytes.sum() > 0


def test_deepspeed_attends_on_the_cpu_over_an_fp32_cache(arch):
    # ZeRO-Inference (DeepSpeedExamples zero_inference/model-support.md; its transformers fork):
    # the cache is FP32 in host DRAM and the CPU reads all of it each step; only q, the new k
    # and v and the attention output cross PCIe x16 (2 B each per hidden element and layer;
    # the fork casts q to FP32 first, which attnsim does not count: b x hidden x 4 B a layer)
    b, s, hidden, layers = 16, 1024, 5120, 40
    r = evaluate_step("deepspeed", OPT13, b, s, 1, arch)
    assert r["kv_home"] == "host_dram" and "cpu" in r["busy_s"]
    assert r["bytes"]["host_dram"] == pytest.approx(2 * b * s * hidden * 4 * layers, rel=0.05)
    assert r["bytes"]["pcie_x16"] == 4 * b * hidden * 2 * layers
    # the CPU at FlexGen's fitted 12.3 GFLOP/s for 4 x b x s x hidden FLOPs a layer (softmax
    # adds under 2%), and the GPU's layers wait for it: the step is their sum
    assert r["busy_s"]["cpu"] == pytest.approx(4 * b * s * hidden * layers / 12.3e9, rel=0.02)
    assert r["latency_s"] == pytest.approx(r["split_s"]["attention_s"]
                                           + r["split_s"]["non_attention_s"])
