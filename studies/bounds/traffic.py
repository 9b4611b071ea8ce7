"""DRAM-traffic bounds by the Orojenesis method (Huang et al., ISCA 2024; shared/reference/bounds.md):
one buffer of variable size over an unbounded backing store; enumerate the mappings; for each
buffer size keep the one with the fewest backing-store accesses (the "ski slope").

- `einsum_frontier`: one Einsum, every tiling (tile sizes = divisors of each rank) and every
  order of the outer loops, vectorised with numpy. A tensor's tile is fetched once per
  iteration of the loops down to the innermost outer loop that indexes it; an output's partial
  sums are written at each fetch and read back at all but the first.
- `cascade_traffic`: an attention cascade over queries p and keys m with a shared nest
  (P tiles outer, the key rank streamed inside), derived from the cascade's pass analysis
  (einsum_cascades.analyse): a P tile either keeps the live footprint of a single traversal of
  m (the analysis' `footprint['m']`, which holds whole key fibres for a multi-pass cascade) and
  streams K and V once, or keeps only its per-query state (the footprint with the key fibres
  dropped) and re-streams each input once per pass the analysis says it needs. K and V tiles
  (E x M0 and F x M0) stream through the buffer in both cases. Any cascade may also run
  unfused, every intermediate through DRAM: each working Einsum is its own Orojenesis problem
  (over its iteration space, split ranks included; a view reads through to its source) and
  the accesses add (Orojenesis' unfused composition).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from einsum_cascades import Cascade, analyse
from einsum_cascades.ir import refs
from mappers.mapping import divisors, working_einsums

ASSUMPTIONS = (
    "one buffer over an unbounded backing store (Orojenesis); accesses counted in elements",
    "tile sizes are divisors of the rank shapes; every order of the outer loops is tried",
    "attention: query tiles outer, keys streamed; head dims E, F whole in the buffer",
    "attention: instances (batch x heads) run one after another, each with the whole buffer",
    "attention mappings: the fused nest (resident key fibres or re-streamed inputs per pass) and "
    "the unfused composition (every intermediate through DRAM); partial fusions not enumerated",
)


def _divisors(n: int) -> np.ndarray:
    return np.array(divisors(n), np.int64)


@dataclass(frozen=True)
class Frontier:
    """Least accesses per buffer size: the monotone (Pareto) points, ascending in size."""

    buffer: np.ndarray     # elements
    accesses: np.ndarray   # elements moved to or from the backing store
    ops: float             # MACs (or points) of the work, for operational intensity

    def at(self, size: float) -> float:
        """Least accesses with a buffer of `size` elements (inf if nothing fits)."""
        k = np.searchsorted(self.buffer, size, side="right") - 1
        return float(self.accesses[k]) if k >= 0 else math.inf

    @property
    def intensity(self) -> np.ndarray:
        return self.ops / self.accesses


def pareto(size: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points where the least cost so far strictly falls, by ascending size."""
    order = np.lexsort((cost, size))
    size, cost = size[order], cost[order]
    best = np.minimum.accumulate(cost)
    keep = np.ones(len(cost), bool)
    keep[1:] = best[1:] < best[:-1]
    return size[keep], best[keep]


def einsum_frontier(shapes: dict[str, int], inputs: dict[str, Sequence[str]],
                    output: Sequence[str]) -> Frontier:
    """Orojenesis frontier of one Einsum: `shapes` per rank, each input's ranks (`{"A": "mk"}`)
    and the output's ranks (`"mn"`)."""
    ranks = list(shapes)
    grids = np.meshgrid(*[_divisors(shapes[r]) for r in ranks], indexing="ij")
    tile = np.stack([g.ravel() for g in grids], axis=1).astype(float)  # [n, R]
    trips = np.array([shapes[r] for r in ranks], float) / tile
    tensors = {**{k: v for k, v in inputs.items()}, "__out__": output}
    col = {r: i for i, r in enumerate(ranks)}
    tile_size = {t: np.prod(tile[:, [col[r] for r in rs]], axis=1) for t, rs in tensors.items()}
    foot = sum(tile_size.values())
    out_size = math.prod(shapes[r] for r in output)
    sizes, costs = [], []
    for order in itertools.permutations(ranks):
        acc = np.zeros(len(tile))
        for t, rs in tensors.items():
            inner = max((k for k, r in enumerate(order) if r in rs), default=-1)
            fetches = np.prod(trips[:, [col[r] for r in order[:inner + 1]]], axis=1)
            moved = tile_size[t] * fetches
            acc += 2 * moved - out_size if t == "__out__" else moved
        sizes.append(foot)
        costs.append(acc)
    size, cost = pareto(np.concatenate(sizes), np.concatenate(costs))
    return Frontier(size, cost, float(math.prod(shapes.values())))


def gemm_peak_intensity(m: int, k: int, n: int) -> float:
    """Orojenesis' closed form: M K N / (M K + K N + M N) MACs per element moved."""
    return m * k * n / (m * k + k * n + m * n)


@dataclass(frozen=True)
class CascadeCurve:
    """A cascade's least DRAM traffic per buffer size (per instance, in elements)."""

    cascade: str
    passes: int
    frontier: Frontier
    compulsory: float   # every input read once, every output written once


def cascade_traffic(c: Cascade, shapes: dict[str, int]) -> CascadeCurve:
    """The ski slope of an attention cascade over ranks p (queries) and m (keys)."""
    report = analyse(c)
    if "m" not in report.passes or "p" not in shapes or "m" not in shapes:
        raise ValueError(f"cascade '{c.name}' has no query rank p and key rank m to tile")
    P, M = shapes["p"], shapes["m"]
    E, F = shapes.get("e", 1), shapes.get("f", 1)
    sym = {s.name: s for s in report.footprint["m"].free_symbols}
    fp = report.footprint["m"]
    resident = fp
    state = fp.subs({sym[n]: 0 for n in ("M", "M1") if n in sym})
    names = ("P", "E", "F", "M", "M0", "M1")
    args = [sympy.Symbol(n) if n not in sym else sym[n] for n in names]
    f_res, f_state = (sympy.lambdify(args, x, "numpy") for x in (resident, state))
    p0 = _divisors(P).astype(float)
    m0 = _divisors(M).astype(float)
    P0, M0 = (g.ravel() for g in np.meshgrid(p0, m0, indexing="ij"))
    stream = (E + F) * M0
    ones = np.ones_like(P0)

    def ev(f):
        return np.broadcast_to(np.asarray(f(P0, E * ones, F * ones, M * ones, M0, M / M0), float),
                               P0.shape)

    foot_res, foot_state = ev(f_res) + stream, ev(f_state) + stream
    passes = report.tensor_passes

    def size(t: str) -> int:
        return math.prod(shapes.get(r, 1) for r in c.tensors[t].ranks)

    io = sum(size(t) for t in c.inputs if "m" not in c.tensors[t].ranks) + \
        sum(size(t) for t in c.outputs)
    inputs = [t for t in c.inputs if "m" in passes.get(t, {})]
    width = {t: math.prod(shapes.get(r, 1) for r in c.tensors[t].ranks if r != "m")
             for t in inputs}
    once = sum(width[t] for t in inputs) * M
    again = sum(width[t] * passes[t]["m"] for t in inputs) * M
    cost_res = io + P / P0 * once
    cost_state = io + P / P0 * again
    unfused = unfused_frontier(c, shapes)
    sizes = [foot_res, foot_state, unfused.buffer]
    costs = [cost_res, cost_state, unfused.accesses]
    size, cost = pareto(np.concatenate(sizes), np.concatenate(costs))
    ops = float(P * M * (E + F))
    return CascadeCurve(c.name, report.max_passes, Frontier(size, cost, ops), io + once)


def unfused_frontier(c: Cascade, shapes: dict[str, int]) -> Frontier:
    """Every Einsum on its own, intermediates through the backing store: per buffer size the
    accesses of the Einsums' frontiers add."""
    full = c.resolve_shapes(shapes)
    parts = []
    for e in working_einsums(c):  # a view (rank split) is read through; initial values are free
        inputs = {r.tensor: r.ranks for r in refs(e.expr)}
        parts.append(einsum_frontier({r: full[r] for r in e.space}, inputs, e.out_ranks))
    grid = np.unique(np.concatenate([f.buffer for f in parts]))
    cost = sum(np.array([f.at(b) for b in grid]) for f in parts)
    ok = np.isfinite(cost)
    size, best = pareto(grid[ok], cost[ok])
    return Frontier(size, best, sum(f.ops for f in parts))
