"""Benchmark (run on demand, not by pytest): the mapping compile path over new shapes.

    python tests/bench/bench_compile.py [REPEATS] [--baseline CHECKOUT]

What a sweep over sequence lengths meets: each case is primed once at other shapes (Numba
kernels loaded, cascades parsed, op formulas derived), then timed at new ones:
- gpu: `evaluate_gpu` of fa2 and fa3 on h100, 2 x 16 heads, head dim 128, 1K, 4K, 8K and 16K
  tokens (8 evaluations: the tile search, its Templates and the chosen mapping's results);
- spatial: `run_design` of fusemax, architecture and unfused (bert, 1K, 4K, 16K tokens; their
  `first_fitting` searches);
- capacities: `score` of fusemax (bert, 64K tokens) on 100 buffer capacities (a sweep: new
  mappings and architectures of one topology), garbage collection on (what caches keep alive
  is its cost);
- op_counts: `mappers.ops.op_counts` of one_pass at 200 new shape sets.
Each repeat is a fresh interpreter, garbage collection off while the other cases are timed
(as in timeit); with `--baseline`, the same cases run from another checkout
(e.g. `git worktree add /tmp/base main`) in turns with this one, and the ratios baseline /
this are reported. Prints JSON: median seconds per case of each, and the ratios.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child() -> dict:
    """Seconds of each case in this interpreter (imports from the first path entry)."""
    import mappers
    from archsim.spec import load_arch
    from einsum_cascades import load
    from mappers.gpu import Attention
    from mappers.ops import op_counts
    from studies.evaluate import DESIGNS, run_design, score
    from studies.gpu_evaluate import evaluate_gpu
    from studies.workloads import model

    h100, bert = load_arch("h100"), model("bert")
    spatial = [(DESIGNS[n], load_arch(DESIGNS[n].arch)) for n in ("fusemax", "architecture",
                                                                  "unfused")]
    c = load("one_pass")

    def gpu(seqs):
        for kind in ("fa2", "fa3"):
            for n in seqs:
                evaluate_gpu(kind, Attention(2, 16, 128, n), h100)

    def arrays(seqs):
        for d, arch in spatial:
            for n in seqs:
                run_design(d, bert, n, arch)

    def capacities(first):
        for k in range(first, first + 100):
            arch = load_arch("fusemax", [f"global_buffer.capacity={256 + 32 * k}KiB"])
            score(DESIGNS["fusemax"].build(bert, 65536, arch), arch)

    def counts(first):
        for k in range(first, first + 200):
            op_counts(c, {"e": 64 + k, "f": 64, "m": 1024 + 16 * k, "p": 512 + k, "m0": 16})

    cases = {"gpu": (gpu, [2048], [1024, 4096, 8192, 16384]),
             "spatial": (arrays, [2048], [1024, 4096, 16384]),
             "capacities": (capacities, 1000, 0),
             "op_counts": (counts, 0, 1000)}
    out = {"from": str(Path(mappers.__file__).parents[1])}
    for name, (fn, prime, timed) in cases.items():
        fn(prime)
        gc.collect()
        if name != "capacities":  # as timeit does: a collection's pause is the heap's
            gc.disable()
        start = time.perf_counter()
        fn(timed)
        out[name] = time.perf_counter() - start
        gc.enable()
    return out


def one(checkout: Path) -> dict:
    """One repeat: the cases in a fresh interpreter importing from `checkout`."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                          capture_output=True, text=True, cwd=checkout)
    got = json.loads(done.stdout)
    if Path(got.pop("from")).resolve() != checkout.resolve():
        raise SystemExit(f"the child imported the project from elsewhere than {checkout}")
    return got


def run(repeats: int = 5, baseline: Path | None = None) -> dict:
    runs: dict[str, list[dict]] = {"this": []} | ({"baseline": []} if baseline else {})
    for _ in range(repeats):  # in turns, so a change in the machine's load hits both alike
        runs["this"].append(one(ROOT))
        if baseline:
            runs["baseline"].append(one(baseline))
    out: dict = {"repeats": repeats, "cpus": os.cpu_count()}
    for who, rs in runs.items():
        out[who] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
    if baseline:
        out["baseline_over_this"] = {k: out["baseline"][k] / out["this"][k] for k in out["this"]}
    return out


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(child()))
    else:
        args = sys.argv[1:]
        base = None
        if "--baseline" in args:
            i = args.index("--baseline")
            base = Path(args[i + 1])
            del args[i:i + 2]
        print(json.dumps(run(int(args[0]) if args else 5, base), indent=2))
