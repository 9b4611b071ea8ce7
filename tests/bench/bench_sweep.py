"""Benchmark (run on demand, not by pytest): a 10^4-point buffer sweep of the FuseMax design.

    python tests/bench/bench_sweep.py [--points 10000] [--workers 2] [--dask]

`attnsim sweep --model bert --seq 64K --grid global_buffer.capacity=256KiB..64MiB*F` with F
chosen for the number of points, in a subprocess, local pool of `--workers` processes; with
`--dask`, the same grid again on a LocalCluster of as many single-threaded worker processes on
127.0.0.1. `attnsim --version` is the baseline of the same run (interpreter start and imports).
Prints JSON: seconds, points per second, ratios to the baseline. Target (issue 5): 10^4 points
locally under 60 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> float:
    """Wall seconds of one `attnsim` run (its output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "studies.cli", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def grid(points: int) -> str:
    """A geometric capacity range 256 KiB .. 64 MiB with `points` values."""
    return f"global_buffer.capacity=256KiB..64MiB*{256 ** (1 / (points - 1))!r}"


def run(points: int = 10_000, workers: int = 2, dask: bool = False) -> dict:
    base = ["sweep", "--model", "bert", "--seq", "64K", "--grid", grid(points),
            "--workers", str(workers), "--no-progress", "--format", "json"]
    out: dict = {"points": points, "workers": workers, "cpus": os.cpu_count()}
    out["baseline_version_s"] = timed(["--version"])
    with tempfile.TemporaryDirectory() as tmp:
        local = timed(base + ["--out", str(Path(tmp) / "local")])
        out |= {"local_s": local, "local_points_per_s": points / local,
                "local_over_baseline": local / out["baseline_version_s"]}
        if dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                remote = timed(base + ["--out", str(Path(tmp) / "dask"), "--scheduler",
                                       cluster.scheduler_address])
            out |= {"dask_s": remote, "dask_points_per_s": points / remote,
                    "dask_over_baseline": remote / out["baseline_version_s"]}
    return out | {"target_local_s": 60}


if __name__ == "__main__":
    argv = sys.argv
    n = int(argv[argv.index("--points") + 1]) if "--points" in argv else 10_000
    w = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 2
    print(json.dumps(run(n, w, "--dask" in argv), indent=2))
