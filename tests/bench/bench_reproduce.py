"""Benchmark (run on demand, not by pytest): `attnsim reproduce fusemax`, all four models.

    python tests/bench/bench_reproduce.py [--models BERT,TrXL,T5,XLM]

Runs the command in a subprocess cold (NUMBA_CACHE_DIR a fresh temporary folder, so every
@njit(cache=True) function compiles) and then warm (the same folder, now filled), and
`attnsim --version` as the baseline of the same run (interpreter start and imports). Prints
JSON: seconds of each and their ratio to the baseline. Targets (issue 4): cold under 60 s and
warm under 10 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def timed(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one `attnsim` run (its output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "studies.cli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(models: str = "BERT,TrXL,T5,XLM") -> dict:
    """Cold, warm and baseline seconds, and the ratios."""
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        baseline = timed(["--version"], env)
        args = ["reproduce", "fusemax", "--models", models, "--format", "json"]
        cold = timed(args, env)
        warm = timed(args, env)
    return {"models": models, "cold_s": cold, "warm_s": warm, "baseline_version_s": baseline,
            "cold_over_baseline": cold / baseline, "warm_over_baseline": warm / baseline,
            "targets_s": {"cold": 60, "warm": 10}, "cpus": os.cpu_count()}


if __name__ == "__main__":
    models = sys.argv[sys.argv.index("--models") + 1] if "--models" in sys.argv else \
        "BERT,TrXL,T5,XLM"
    print(json.dumps(run(models), indent=2))
