"""The FlashAttention reproduction: the GPU-tile model beside published throughput and traffic.

Rows pair a model figure with the published one where a source gives it
(studies/data/flashattention/SOURCE.md): FA3, FA2 and standard attention on H100 by sequence
length, FA2 and standard attention on A100 by head dim, mask and length, FA2's A100 peak, FA1's
GPT-2 medium HBM traffic and runtime example, and decode
(Flash-Decoding and LeanAttention against FA2 as the context grows), and dated third-party
H100 measurements of FA3, FA2 and PyTorch SDPA, with the dense-GEMM ceiling measured on one of
those parts. Every
model figure comes from `evaluate_gpu`, the same path as `attnsim evaluate`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

from archsim.spec import load_arch
from mappers.gpu import Attention

from .gpu_evaluate import evaluate_gpu

DATA = Path(__file__).resolve().parent / "data" / "flashattention"
#: the FA3 paper's benchmark: batch x seq = 16K tokens, 16 heads of 128
SEQS = (512, 1024, 2048, 4096, 8192, 16384)
TOKENS, HEADS, HEAD_DIM = 16384, 16, 128
#: decode sweep: batch 1, 32 heads of 128 (a 7B-class model), context 1K..512K
DECODE_CONTEXTS = (1024, 4096, 16384, 65536, 262144, 524288)
DECODE_HEADS = 32


def published(name: str) -> list[dict[str, str]]:
    """Rows of a reference CSV."""
    with open(DATA / name) as f:
        return list(csv.DictReader(f))


def _ratio(model: float, pub: float | None) -> float | None:
    return model / pub if pub else None


def forward_rows(progress: Callable[[], None] | None = None, head_dim: int = HEAD_DIM,
                 causal: bool = False) -> list[dict]:
    """FA3, FA2 and standard on H100 at the FA3 paper's shapes by sequence length, published
    TFLOP/s beside where the data has the point (every length at head dim 128 non-causal)."""
    ref = {_key(r): float(r["published_tflops"]) for r in published("h100_forward.csv")}
    arch = load_arch("h100")
    rows = []
    for kernel in ("fa3", "fa2", "standard"):
        for n in SEQS:
            rows.append(_forward_row(kernel, head_dim, causal, n, ref.get((kernel, head_dim,
                                                                           causal, n)), arch))
            if progress:
                progress()
    return rows


def _key(row: dict[str, str]) -> tuple[str, int, bool, int]:
    """A published row's (kernel, head dim, causal, sequence length)."""
    return (row["kernel"], int(row["head_dim"]), row["causal"] == "true", int(row["seq_len"]))


def _forward_row(kernel: str, head_dim: int, causal: bool, n: int, pub: float | None,
                 arch, batch: int | None = None, heads: int | None = None) -> dict:
    """One kernel beside `pub`, at the paper's shape (16K tokens, heads x head dim = 2048)
    unless `batch` and `heads` are given."""
    heads = heads or HEADS * HEAD_DIM // head_dim
    a = Attention(batch or TOKENS // n, heads, head_dim, n, causal=causal)
    r = evaluate_gpu(kernel, a, arch)
    return ({"kernel": kernel, "arch": arch.name, "batch": a.batch, "heads": heads,
             "head_dim": head_dim, "causal": causal, "seq_len": n, "tflops": r["tflops"],
             "published_tflops": pub, "ratio": _ratio(r["tflops"], pub),
             "latency_s": r["latency_s"], "hbm_bytes": r["hbm_bytes"],
             "tiles": "x".join(map(str, r["tiles"])), "occupancy": r["occupancy"]}
            | {f"util_{u}": v for u, v in r["utilisation"].items()})


def measured_rows() -> list[dict]:
    """The model beside the dated third-party H100 measurements of `h100_measured.csv` (runs of
    flash-attention's benchmark and of tritonbench; SOURCE.md), each row naming its run."""
    rows = []
    for r in published("h100_measured.csv"):
        row = _forward_row(r["kernel"], int(r["head_dim"]), r["causal"] == "true",
                           int(r["seq_len"]), float(r["measured_tflops"]), load_arch(r["arch"]),
                           int(r["batch"]), int(r["heads"]))
        rows.append({("measured_tflops" if k == "published_tflops" else k): v
                     for k, v in row.items()}
                    | {k: r[k] for k in ("measured_kernel", "date", "run")})
    return rows


def gemm_ceiling() -> dict:
    """The H100 tensor cores' sustained ceiling in the model (peak x the spec's `attainable`)
    beside the best dense GEMM measured on the part (`h100_gemm.csv`)."""
    unit = load_arch("h100").computes["tensor_core"]
    peak = 2 * unit.lanes * unit.frequency_hz / unit.ops["mac"].cycles / 1e12  # 2 FLOPs a MAC
    best = max(published("h100_gemm.csv"), key=lambda r: float(r["measured_tflops"]))
    return {"peak_tflops": peak, "attainable": unit.attainable,
            "model_ceiling_tflops": peak * unit.attainable,
            "best_gemm_tflops": float(best["measured_tflops"]), "best_gemm": (
                f"{best['library']} {best['m']} x {best['n']} x {best['k']} {best['dtype']}")}


def shape_rows() -> list[dict]:
    """FA3 and FA2 at the published points beyond head dim 128 non-causal (16K: head dims 64
    and 256, causal), model beside published."""
    arch = load_arch("h100")
    return [_forward_row(k, d, c, n, float(r["published_tflops"]), arch)
            for r in published("h100_forward.csv")
            for k, d, c, n in [_key(r)] if (d, c) != (HEAD_DIM, False)]


def chart_rows(arch_name: str = "a100", progress: Callable[[], None] | None = None
               ) -> list[dict]:
    """Every published point of `{arch_name}_forward.csv`, model beside published, with the
    chart's own consistency (`chart_consistency`) where the data has the backward reads."""
    arch = load_arch(arch_name)
    rows = []
    for r in published(f"{arch_name}_forward.csv"):
        k, d, c, n = _key(r)
        rows.append(_forward_row(k, d, c, n, float(r["published_tflops"]), arch)
                    | {"chart_consistency": chart_consistency(r)})
        if progress:
            progress()
    return rows


def chart_consistency(row: dict[str, str]) -> float | None:
    """fwd + bwd TFLOP/s implied by a point's forward and backward reads over its fwd + bwd read.

    The FA2 benchmark (flash-attention benchmarks/benchmark_flash_attention.py) times forward
    and backward once each and charts fwd + bwd over the sum of the two times, counting 2.5x
    the forward FLOPs backward and 3.5x for both, so 3.5 / fwd_bwd = 1 / fwd + 2.5 / bwd for
    exact reads: 1.0 when the three bars agree, away from 1 when a chart read is off."""
    if not row.get("chart_bwd_tflops"):
        return None
    f, b = float(row["published_tflops"]), float(row["chart_bwd_tflops"])
    return 3.5 / (1 / f + 2.5 / b) / float(row["chart_fwd_bwd_tflops"])


def peak_rows() -> list[dict]:
    """Peaks: FA2 on A100 and H100 (the best over the benchmark's lengths), FA3 at 16K."""
    out = []
    for row in published("peaks.csv"):
        arch = load_arch(row["arch"])
        seqs = (16384,) if row["kernel"] == "fa3" else SEQS
        best = max(evaluate_gpu(row["kernel"], Attention(TOKENS // n, HEADS, HEAD_DIM, n),
                                arch)["tflops"] for n in seqs)
        pub = float(row["published_tflops"])
        out.append({"kernel": row["kernel"], "arch": row["arch"], "what": row["what"],
                    "tflops": best, "published_tflops": pub, "ratio": best / pub,
                    "source": row["source"]})
    return out


def fa1_rows() -> list[dict]:
    """FA1's GPT-2 medium example on A100, forward + backward as the paper measures it:
    standard = the benchmark's PyTorch reference in training (scale, QK^T, padding mask,
    softmax, dropout, PV and their autograd backward, a kernel each through HBM), flash = FA1's
    Algorithm 1 and Algorithm 4 mappings (K/V blocks outer, the released kernel's blocks),
    beside the published figures."""
    arch = load_arch("a100")
    kernels = {"standard": ("standard_dropout", "standard_dropout_backward"),
               "flash": ("fa1", "fa1_backward")}
    out = []
    for row in published("fa1_gpt2.csv"):
        a = Attention(int(row["batch"]), int(row["heads"]), int(row["head_dim"]),
                      int(row["seq_len"]))
        fwd, bwd = (evaluate_gpu(k, a, arch) for k in kernels[row["kernel"]])
        out.append({"kernel": row["kernel"], "arch": "a100", "modelled": "forward+backward",
                    "published": row["passes"],
                    "hbm_gb": (fwd["hbm_bytes"] + bwd["hbm_bytes"]) / 1e9,
                    "forward_hbm_gb": fwd["hbm_bytes"] / 1e9,
                    "backward_hbm_gb": bwd["hbm_bytes"] / 1e9,
                    "published_hbm_gb": float(row["published_hbm_gb"]),
                    "runtime_ms": (fwd["latency_s"] + bwd["latency_s"]) * 1e3,
                    "published_runtime_ms": float(row["published_runtime_ms"]),
                    "tiles": fwd["tiles"] + bwd["tiles"],
                    "gflops": (counted_flops(fwd) + counted_flops(bwd)) / 1e9,
                    "published_gflops": float(row["published_gflops"])})
    return out


def counted_flops(result: dict) -> float:
    """FLOPs a GPU result's Einsums perform: 2 per MAC, 1 per other op (the recomputation of
    FlashAttention's backward included)."""
    return sum(n * (2 if op == "mac" else 1) for e in result["einsums"] for op, n in e["ops"].items())


def decode_rows(arch_name: str = "a100", progress: Callable[[], None] | None = None
                ) -> list[dict]:
    """Batch 1, 32 heads of 128: FA2, Flash-Decoding and LeanAttention latency as the context
    grows, with the speedups over FA2 and over Flash-Decoding."""
    arch = load_arch(arch_name)
    rows = []
    for ctx in DECODE_CONTEXTS:
        a = Attention(1, DECODE_HEADS, HEAD_DIM, 1, ctx)
        lat = {k: evaluate_gpu(k, a, arch)["latency_s"] for k in ("fa2", "flash_decoding",
                                                                 "lean")}
        rows.append({"arch": arch_name, "context": ctx} | {f"{k}_s": v for k, v in lat.items()}
                    | {"flash_decoding_over_fa2": lat["fa2"] / lat["flash_decoding"],
                       "lean_over_fa2": lat["fa2"] / lat["lean"],
                       "lean_over_flash_decoding": lat["flash_decoding"] / lat["lean"]})
        if progress:
            progress()
    return rows


def decode_claims(rows: list[dict]) -> list[dict]:
    """The published decode speedups beside the model's (averages over the sweep, or the
    point at the named context)."""
    out = []
    for c in published("decode.csv"):
        col = f"{c['kernel']}_over_{c['baseline']}"
        vals = [r[col] for r in rows if not c["context"] or r["context"] == int(c["context"])]
        model = (sum(vals) / len(vals) if c["claim"].startswith("average")
                 else max(vals)) if vals else None
        out.append({"claim": c["claim"], "kernel": c["kernel"], "baseline": c["baseline"],
                    "context": c["context"] or "sweep", "speedup": model,
                    "published_speedup": float(c["published_speedup"]), "source": c["source"]})
    return out
