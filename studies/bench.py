"""`attnsim bench`: how many mappings per second the estimator scores, against plain Python.

The standard batch: the 1-pass cascade on the `fusemax` preset, every Einsum under one shared
loop nest (FuseMax's fused dataflow: 2D array for the M0-tile work, 1D array for the running
state), with random valid tilings of the query rank P (over DRAM, buffer and PE columns), of
the key tile M0 (over PE rows and time) and of E and F. Both paths score the same mappings;
speed is reported as a ratio measured in the same run, never asserted in tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np

from archsim import estimator as est
from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from einsum_cascades import load
from mappers.compile import Template
from mappers.compile import Kernel
from mappers.fused import shared_kernel, shared_nest_mapping
from mappers.mapping import Level, Loop, Mapping
from mappers.ops import op_counts
from mappers.plain import evaluate

SHAPES = {"e": 64, "f": 64, "m": 16384, "p": 16384, "m0": 256}
ON_2D = ("BQK", "LM", "SLN", "SLD", "SLNV")  # FuseMax binding; the rest runs on the 1D array


@dataclass
class Setup:
    """The standard batch: architecture, shared nest, mapping, template and its kernel."""

    arch: object
    arrays: ArchArrays
    nest: tuple[Level, ...]
    mapping: Mapping
    template: Template
    kernel: Kernel


def nest_of(f: dict[str, int]) -> tuple[Level, ...]:
    """The shared nest for a tiling: p = p2*p1*p0, m0 = m0s*m0t, e = e1*e0, f = f1*f0."""
    return (
        Level("dram", (Loop("p", f["p2"]),)),
        Level("global_buffer", (
            Loop("p", f["p1"]), Loop("m1", SHAPES["m"] // SHAPES["m0"]),
            Loop("m0", f["m0s"], True), Loop("p", f["p0"], True), Loop("m0", f["m0t"]),
            Loop("e", f["e1"]), Loop("e", f["e0"]), Loop("f", f["f1"]), Loop("f", f["f0"]))),
    )


SLOTS = ("p2", "p1", "m1", "m0s", "p0", "m0t", "e1", "e0", "f1", "f0")


def setup() -> Setup:
    """Build the standard batch's template from one hand tiling."""
    arch = load_arch("fusemax")
    arrays = ArchArrays.from_arch(arch)
    c = load("one_pass")
    binding = {e.key: ("pe2d" if e.key in ON_2D else "pe1d")
               for e in c.einsums if e.kind != "init"}
    base = {"p2": 64, "p1": 1, "m0s": 256, "p0": 256, "m0t": 1, "e1": 64, "e0": 1, "f1": 64, "f0": 1}
    nest = nest_of(base)
    m = shared_nest_mapping(c, SHAPES, binding, nest, keep="global_buffer")
    t = Template.from_mapping(m, arch, arrays)
    return Setup(arch, arrays, nest, m, t, shared_kernel(t, m, nest, arch))


def random_tilings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Shared factors [n, slots] of random valid tilings (powers of two that divide)."""
    P, M0, E, F = SHAPES["p"], SHAPES["m0"], SHAPES["e"], SHAPES["f"]
    p0 = 2 ** rng.integers(0, 9, n)                       # PE columns used: 1..256
    p1 = 2 ** rng.integers(0, 7, n)
    p2 = P // (p0 * p1)
    m0s = 2 ** rng.integers(0, 9, n)                      # PE rows used: 1..256
    e0 = 2 ** rng.integers(0, 7, n)
    f0 = 2 ** rng.integers(0, 7, n)
    out = np.stack([p2, p1, np.full(n, SHAPES["m"] // M0), m0s, p0, M0 // m0s,
                    E // e0, e0, F // f0, f0], axis=1)
    return out.astype(float)


def tiling_dict(row: np.ndarray) -> dict[str, int]:
    return {k: int(v) for k, v in zip(SLOTS, row)}


def _score_all(s: Setup, shared: np.ndarray, chunk: int) -> tuple[float, int, float]:
    """Compile and estimate `shared` in chunks: seconds, valid mappings, best latency."""
    best, n_valid, compiled, r = np.inf, 0, None, None
    start = time.perf_counter()
    for lo in range(0, len(shared), chunk):
        compiled = s.template.compile(shared[lo:lo + chunk], s.kernel, compiled)
        batch, valid = compiled
        r = estimate(s.arrays, batch, r)
        n_valid += int(valid.sum())
        if valid.any():
            best = min(best, float(r.latency_s[valid].min()))
    return time.perf_counter() - start, n_valid, best


def run(n: int = 1_000_000, python_n: int = 1000, seed: int = 0, chunk: int = 1 << 13) -> dict:
    """Score n random tilings with Numba (on its threads, then on one) and python_n of them
    with plain Python."""
    s = setup()
    rng = np.random.default_rng(seed)
    shared = random_tilings(n, rng)
    start = time.perf_counter()  # loads or compiles the one-thread and the threaded kernels
    for rows in (shared[:1], shared[:est.PARALLEL_MIN_ROWS]):
        batch, valid = s.template.compile(rows, s.kernel)
        estimate(s.arrays, batch)
    first_call_s = time.perf_counter() - start
    with est.one_thread():  # the same mappings on this thread alone, first
        serial_s = _score_all(s, shared, chunk)[0]
    numba_s, n_valid, best = _score_all(s, shared, chunk)
    ops = op_counts(s.mapping.cascade, SHAPES)
    binding = {em.einsum: em.unit for em in s.mapping.einsums}
    start = time.perf_counter()
    plain_latency = []
    for row in shared[:python_n]:
        m = shared_nest_mapping(s.mapping.cascade, SHAPES, binding, nest_of(tiling_dict(row)),
                                keep="global_buffer")
        plain_latency.append(evaluate(m, s.arch, ops)["latency_s"])
    python_s = time.perf_counter() - start
    check = estimate(s.arrays, s.template.compile(shared[:python_n], s.kernel)[0])
    agree = bool(np.allclose(check.latency_s, plain_latency, rtol=1e-9))
    return {
        "cascade": "one_pass", "arch": "fusemax", "shapes": SHAPES,
        "n_mappings": n, "n_valid": n_valid, "best_latency_s": best,
        "first_call_s": first_call_s, "numba_s": numba_s, "mappings_per_s": n / numba_s,
        "threads": numba.get_num_threads(), "one_thread_s": serial_s,
        "one_thread_mappings_per_s": n / serial_s, "threads_speedup": serial_s / numba_s,
        "python_mappings": python_n, "python_s": python_s,
        "python_mappings_per_s": python_n / python_s,
        "speedup": (n / numba_s) / (python_n / python_s), "paths_agree": agree,
    }
