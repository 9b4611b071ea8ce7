"""Benchmark (run on demand, not by pytest): estimator throughput against plain Python.

    python tests/bench/bench_estimator.py [N] [PYTHON_N]

Prints the JSON of `attnsim bench`: Numba mappings per second on its threads and on one,
plain-Python mappings per second on the same mappings in the same run, the ratios, and the
first calls' time (JIT or cache).
Run it twice to see cold (empty Numba cache) and warm numbers.
"""

from __future__ import annotations

import json
import sys

from studies import bench

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    python_n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(json.dumps(bench.run(n=n, python_n=python_n), indent=2))
