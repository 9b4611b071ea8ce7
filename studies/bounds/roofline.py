"""Roofline bound of a cascade on an architecture: no mapping can be faster than its compute
bound (every op on the units that run it fastest, all the PEs a unit sustains busy, split
optimally among units) or its memory bound (the least DRAM traffic of any mapping over the
root memory's bandwidth)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from archsim.estimator import ArchArrays
from einsum_cascades import Cascade
from mappers.ops import op_counts

from .traffic import cascade_traffic

ASSUMPTIONS = (
    "compute bound: each op may run on any unit that supports it, work split among units to "
    "minimise the makespan (a linear program), every PE busy every cycle (a unit's spec "
    "`attainable` share of them where it gives a measured ceiling)",
    "memory bound: Orojenesis least traffic at the capacity of the largest on-chip memory "
    "under the root, at the root's bandwidth; compulsory: inputs read once, outputs written once",
    "instances (batch x heads) run one after another on the whole machine",
)


def compute_bound_s(c: Cascade, shapes: dict[str, int], instances: int, arch) -> tuple[float, dict]:
    """Least time for the cascade's ops on the architecture's units, and each op's count."""
    arrays = ArchArrays.from_arch(arch)
    totals: dict[str, float] = {}
    for ops in op_counts(c, shapes).values():
        for op, n in ops.items():
            totals[op] = totals.get(op, 0.0) + n * instances
    ops = [o for o, n in totals.items() if n > 0]
    U = len(arrays.units)
    rate = np.zeros((len(ops), U))  # ops per second of unit u on op o
    for i, op in enumerate(ops):
        k = arrays.ops.index(op)
        cyc = arrays.cycles_per_op[:, k]
        rate[i] = np.where(np.isfinite(cyc),
                           arrays.attainable_lanes * arrays.frequency_hz / cyc, 0.0)
        if not rate[i].any():
            raise ValueError(f"no unit of '{arch.name}' runs '{op}'")
    # variables: seconds t[o, u] unit u spends on op o, then T; minimise T
    n = len(ops) * U
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    a_eq = np.zeros((len(ops), n + 1))
    for i in range(len(ops)):
        a_eq[i, i * U:(i + 1) * U] = rate[i]
    a_ub = np.zeros((U, n + 1))
    for u in range(U):
        a_ub[u, u:n:U] = 1.0
        a_ub[u, -1] = -1.0
    bounds = [(0, None if rate[i, u] > 0 else 0) for i in range(len(ops)) for u in range(U)]
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(U), A_eq=a_eq,
                  b_eq=np.array([totals[o] for o in ops]), bounds=bounds + [(0, None)],
                  method="highs")
    if not res.success:
        raise ValueError(f"compute bound: {res.message}")
    return float(res.x[-1]), totals


def on_chip_capacity(arch) -> tuple[str, float]:
    """The largest finite memory directly under a root (the buffer Orojenesis sizes)."""
    levels = [(n, m.capacity_bytes * m.count) for n, m in arch.memories.items()
              if m.parent is not None and arch.memories[m.parent].parent is None
              and math.isfinite(m.capacity_bytes)]
    if not levels:
        raise ValueError(f"'{arch.name}' has no bounded memory under its root")
    return max(levels, key=lambda x: x[1])


@dataclass(frozen=True)
class Roofline:
    """Bounds of one cascade on one architecture (seconds)."""

    compute_bound_s: float
    memory_bound_s: float
    compulsory_memory_s: float
    bound_s: float
    bound_by: str
    buffer: str
    buffer_bytes: float
    dram_traffic_bytes: float


def roofline(c: Cascade, shapes: dict[str, int], instances: int, arch) -> Roofline:
    """Compute- and memory-bound time of a cascade on an architecture."""
    compute, _ = compute_bound_s(c, shapes, instances, arch)
    root = [n for n, m in arch.memories.items() if m.parent is None]
    bandwidth = sum(arch.memories[r].bandwidth_bytes_per_s * arch.memories[r].count for r in root)
    word = arch.word_bits / 8
    buffer, capacity = on_chip_capacity(arch)
    curve = cascade_traffic(c, shapes)
    traffic = curve.frontier.at(capacity / word) * word * instances
    compulsory = curve.compulsory * word * instances
    memory = traffic / bandwidth
    bound = max(compute, memory)
    return Roofline(compute, memory, compulsory / bandwidth, bound,
                    "compute" if compute >= memory else "memory", buffer, capacity, traffic)
