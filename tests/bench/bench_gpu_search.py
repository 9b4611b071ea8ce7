"""Benchmark (run on demand, not by pytest): the GPU tile search against the reference loop.

    python tests/bench/bench_gpu_search.py [REPEATS]

Times `mappers.gpu.flash` (fa2, fa3) on h100 at head dim 128, 1K and 16K tokens and 16K causal,
and `lean` / `flash_decoding` at decode (32 heads, 4K and 32K keys), against the reference
loop of tests/test_gpu_search.py (one candidate at a time: plain-model occupancy, a Template
and an estimator call each) in the same run. Each call starts from an empty Template cache (a
sweep over shapes meets new mappings), the median of REPEATS calls. Prints JSON: seconds of
each, the candidates tried, and reference / bulk.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test module's oracle

from archsim.spec import load_arch  # noqa: E402
from mappers import compile as comp  # noqa: E402
from mappers import gpu  # noqa: E402
from test_gpu_search import reference_best_of, reference_flash, reference_lean  # noqa: E402


def timed(search, repeats: int) -> tuple[float, gpu.Choice]:
    """Median seconds of `search()` from an empty Template cache, and its result."""
    times = []
    for _ in range(repeats):
        comp._TEMPLATES.clear()
        start = time.perf_counter()
        choice = search()
        times.append(time.perf_counter() - start)
    return statistics.median(times), choice


def run(repeats: int = 5) -> dict:
    h100 = load_arch("h100")
    cases = []
    for n, causal in ((1024, False), (16384, False), (16384, True)):
        a = gpu.Attention(2, 16, 128, n, causal=causal)
        for kind in ("fa2", "fa3"):
            cases.append((f"{kind} seq {n}{' causal' if causal else ''}",
                          lambda a=a, k=kind: gpu.flash(a, h100, k),
                          lambda a=a, k=kind: reference_flash(a, h100, k)))
    for ctx in (4096, 32768):
        a = gpu.Attention(1, 32, 128, 1, keys=ctx)
        cases.append((f"lean ctx {ctx}", lambda a=a: gpu.lean(a, h100),
                      lambda a=a: reference_lean(a, h100)))
        bc = gpu.splitkv_block_n(128)
        s = gpu.num_splits(32, gpu.SPLITKV_CTAS_PER_SM * gpu.sms(h100), ctx // bc)
        cases.append((f"flash_decoding ctx {ctx}", lambda a=a: gpu.flash_decoding(a, h100),
                      lambda a=a, s=s, bc=bc: reference_best_of(
                          [((s, bc), lambda: gpu.split_k(a, h100, s, bc), 1)], h100)))
    gpu.flash(gpu.Attention(1, 1, 128, 256), h100)  # compile or load the Numba kernels
    out = {"repeats": repeats, "cpus": os.cpu_count(), "cases": {}}
    for name, bulk, ref in cases:
        bulk_s, choice = timed(bulk, repeats)
        ref_s, _ = timed(ref, repeats)
        out["cases"][name] = {"bulk_s": bulk_s, "reference_s": ref_s,
                              "reference_over_bulk": ref_s / bulk_s, "tried": choice.tried}
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))
