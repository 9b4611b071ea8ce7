"""Search the mapspace of a fused cascade: tile factors, binding and loop order, in bulk.

A skeleton is a shared loop nest without factors (which ranks at which level, in which order,
spatial or not). For every skeleton and binding the search enumerates the ways each rank's shape
splits over its slots (divisors; spatial factors within the widest PE dimension), scores them
all with one compiled call per chunk, and keeps the best by latency, energy or EDP. The search
is bounded (`budget` candidates), deterministic for a seed, shows progress, and stops cleanly on
Ctrl-C with the best mapping found so far.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from archsim.estimator import ArchArrays, estimate
from einsum_cascades import Cascade
from energy import energy_pj, price_list

from .compile import Template
from .fused import shared_kernel, shared_nest_mapping
from .mapping import Level, Loop, Mapping, MappingError, Stage, divisors, working_einsums
from .ops import op_formulas

Metric = Literal["latency", "energy", "edp"]


@dataclass(frozen=True)
class Skeleton:
    """A shared nest without factors: per memory level, its (rank, spatial) loop slots."""

    levels: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]

    def slots(self) -> list[tuple[str, bool]]:
        return [s for _, slots in self.levels for s in slots]

    def nest(self, factors: Sequence[float]) -> tuple[Level, ...]:
        """The shared nest with these factors (one per slot, in order)."""
        it = iter(factors)
        return tuple(Level(mem, tuple(Loop(r, int(next(it)), sp) for r, sp in slots))
                     for mem, slots in self.levels)


@dataclass
class SearchResult:
    """The best mapping found, its metrics, and what the search did."""

    mapping: Mapping | None
    latency_s: float
    energy_pj: float
    scored: int
    valid: int
    seconds: float
    interrupted: bool
    structures: int


def splits(skeleton: Skeleton, shapes: dict[str, int], max_spatial: int) -> np.ndarray:
    """Every assignment of factors to slots [n, slots]: each rank's factors multiply to its
    shape (`shapes` resolved, split parts included); a spatial factor is at most
    `max_spatial`."""
    slots = skeleton.slots()
    per_rank: dict[str, list[int]] = {}
    for k, (r, _) in enumerate(slots):
        per_rank.setdefault(r, []).append(k)
    choices = []
    for r, idx in per_rank.items():
        factors = divisors(shapes[r])
        options = []
        for combo in itertools.product(factors, repeat=len(idx) - 1):
            rest = shapes[r] // math.prod(combo) if shapes[r] % math.prod(combo) == 0 else 0
            row = list(combo) + [rest]
            if rest and all(f <= max_spatial for f, k in zip(row, idx) if slots[k][1]):
                options.append(row)
        choices.append((idx, options))
    n = math.prod(len(o) for _, o in choices)
    out = np.ones((n, len(slots)))
    stride = n
    for idx, options in choices:
        stride //= len(options)
        block = np.repeat(np.array(options, float), stride, axis=0)
        out[:, idx] = np.tile(block, (n // len(block), 1))
    return out


def candidate_bindings(c: Cascade, arch, limit: int, seed: int,
                       must: Sequence[dict[str, str]] = ()) -> list[dict[str, str]]:
    """Bindings of working Einsums to units that run all their ops: the given ones first, then
    a deterministic sample of the rest (at most `limit` in all)."""
    ops = op_formulas(c)
    options = []
    for e in working_einsums(c):
        units = [u for u in arch.units() if all(op in arch.computes[u].ops for op in ops[e.key])]
        if not units:
            raise MappingError(f"no unit of '{arch.name}' runs every op of '{e.key}'")
        options.append((e.key, units))
    out = [dict(b) for b in must]
    total = math.prod(len(u) for _, u in options)
    rng = np.random.default_rng(seed)
    picks = range(total) if total <= limit else rng.choice(total, limit, replace=False)
    for pick in picks:
        b, rest = {}, int(pick)
        for key, units in options:
            b[key] = units[rest % len(units)]
            rest //= len(units)
        if b not in out:
            out.append(b)
        if len(out) >= limit:
            break
    return out


def fused_stages(c: Cascade) -> tuple[Stage, ...]:
    """Pipeline the Einsums that step an iterative rank (epochs from the nest); run the rest
    one after another."""
    work = working_einsums(c)
    iterative = {r for r, v in c.ranks.items() if v.iterative}
    body = tuple(e.key for e in work if iterative & set(e.space))
    rest = tuple(Stage((e.key,)) for e in work if e.key not in body)
    return ((Stage(body, "pipelined", 0),) if body else ()) + rest


def search(c: Cascade, shapes: dict[str, int], arch, skeletons: Sequence[Skeleton],
           bindings: Sequence[dict[str, str]], *, keep: str | dict[str, str] | None = None,
           instances: int = 1,
           stages: Callable[[Cascade], tuple[Stage, ...]] = fused_stages,
           metric: Metric = "latency", budget: int = 2_000_000, chunk: int = 1 << 14,
           progress: Callable[[int, int], None] | None = None, prices=None) -> SearchResult:
    """Best mapping over skeletons x bindings x factor splits, at most `budget` candidates."""
    arrays = ArchArrays.from_arch(arch)
    max_spatial = max(max(arch.computes[u].shape) for u in arch.units())
    if prices is None:
        prices = price_list(arch)
    full = c.resolve_shapes(shapes)
    work = [(sk, b, splits(sk, full, max_spatial)) for sk in skeletons for b in bindings]
    total = min(budget, sum(len(f) for _, _, f in work))
    best = (math.inf, None, math.inf, math.inf)
    scored = n_valid = 0
    start = time.perf_counter()
    interrupted = False
    try:
        for sk, b, factors in work:
            if scored >= budget:
                break
            factors = factors[:budget - scored]
            probe = shared_nest_mapping(c, shapes, b, sk.nest(factors[0]), keep, stages(c),
                                        instances)
            try:
                t = Template.from_mapping(probe, arch, arrays)
            except MappingError:
                scored += len(factors)
                continue
            kernel = shared_kernel(t, probe, sk.nest(factors[0]), arch)
            compiled, r = None, None
            for lo in range(0, len(factors), chunk):
                part = factors[lo:lo + chunk]
                compiled = t.compile(part, kernel, compiled if compiled and
                                     len(compiled[1]) == len(part) else None)
                r = estimate(arrays, compiled[0], r if r is not None and
                             len(r.latency_s) == len(part) else None)
                valid = compiled[1]
                score, energy = _score(metric, r, prices)
                score = np.where(valid, score, np.inf)
                k = int(np.argmin(score))
                if score[k] < best[0]:
                    best = (float(score[k]), (sk, b, part[k].copy()), float(r.latency_s[k]),
                            float(energy[k]))
                scored += len(part)
                n_valid += int(valid.sum())
                if progress:
                    progress(scored, total)
    except KeyboardInterrupt:
        interrupted = True
    mapping = None
    if best[1] is not None:
        sk, b, row = best[1]
        mapping = shared_nest_mapping(c, shapes, b, sk.nest(row), keep, stages(c), instances)
    return SearchResult(mapping, best[2], best[3], scored, n_valid,
                        time.perf_counter() - start, interrupted, len(work))


def _score(metric: Metric, r, prices) -> tuple[np.ndarray, np.ndarray]:
    """The objective of each candidate, and its energy."""
    e = energy_pj(prices, r.actions, r.read_bytes, r.write_bytes, r.link_bytes,
                  r.rf_accesses)["total"]
    if metric == "energy":
        return e, e
    if metric == "edp":
        return e * r.latency_s, e
    return r.latency_s, e
