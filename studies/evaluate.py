"""Evaluate one design on one workload: the numbers, their split and the assumptions behind them.

A design turns (workload, sequence length, architecture) into a general Mapping; the estimator
scores it; energy prices its counts. Per-Einsum rows come from the plain model (the same
numbers, readable per Einsum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from archsim.estimator import ArchArrays, estimate
from energy import energy_pj, price_list
from mappers.compile import compile_mapping
from mappers.mapping import Mapping, MappingError
from mappers.plain import costs
from mappers.search import SearchResult
from mappers.spatial import fusemax, search_one_pass, unfused

from .workloads import Workload


@dataclass(frozen=True)
class Design:
    """A named way to map a workload: the cascade it runs and how it builds the mapping."""

    name: str
    cascade: str
    substrate: str
    build: Callable[[Workload, int, object], Mapping]
    description: str
    arch: str = "fusemax"  # the preset it was designed for
    #: for a searching design: the search itself (`build` is its best mapping)
    search: Callable[[Workload, int, object], SearchResult] | None = None


def _search_one_pass(w: Workload, seq: int, arch) -> SearchResult:
    return search_one_pass(w.head_dim, seq, w.batch * w.heads, arch)


def _found(r: SearchResult, arch) -> Mapping:
    if r.mapping is None:
        raise MappingError(f"the search found no mapping that fits '{arch.name}'")
    return r.mapping


def search_report(r: SearchResult) -> dict:
    """What a search did: mappings scored and fitting, structures tried, seconds taken."""
    return {"mappings_scored": r.scored, "mappings_valid": r.valid, "structures": r.structures,
            "seconds": r.seconds, "interrupted": r.interrupted}


DESIGNS = {d.name: d for d in (
    Design("fusemax", "one_pass", "spatial",
           lambda w, n, a: fusemax(None, w.head_dim, n, w.batch * w.heads, a),
           "FuseMax: 1-pass cascade, 2D/1D interleaved binding, P1 as large as the buffer allows"),
    Design("architecture", "one_pass", "spatial",
           lambda w, n, a: fusemax(None, w.head_dim, n, w.batch * w.heads, a, interleaved=False),
           "FuseMax's hardware without the interleaved binding (phases in turn, serial row max)"),
    Design("unfused", "three_pass", "spatial",
           lambda w, n, a: unfused(w.head_dim, n, w.batch * w.heads, a),
           "unfused baseline: QK, 3-pass softmax, AV through DRAM (run with --arch unfused)",
           "unfused"),
    Design("search", "one_pass", "spatial",
           lambda w, n, a: _found(_search_one_pass(w, n, a), a),
           "search over tile factors and bindings of the 1-pass cascade (FuseMax's among them)",
           search=_search_one_pass),
)}


def design(name: str) -> Design:
    """A design by name; the error lists the known ones."""
    if name not in DESIGNS:
        raise ValueError(f"unknown mapper '{name}' (mappers: {', '.join(DESIGNS)})")
    return DESIGNS[name]


def run_design(d: Design, w: Workload, seq: int, arch, accounting: str = "complete") -> dict:
    """Build and evaluate a design's mapping; a searching design also reports its search."""
    if d.search is None:
        return evaluate(d.build(w, seq, arch), arch, accounting)
    r = d.search(w, seq, arch)
    return evaluate(_found(r, arch), arch, accounting) | {"search": search_report(r)}


def score(m: Mapping, arch, accounting: str = "complete",
          assumptions: tuple[str, ...] = ()) -> dict:
    """Latency (ideal / compute / transfer), energy, DRAM traffic and utilisation of a mapping:
    the scalars of `evaluate` without its per-Einsum rows (what a sweep keeps per point);
    `assumptions` (the design's) are reported after the estimator's."""
    arrays = ArchArrays.from_arch(arch)
    r = estimate(arrays, compile_mapping(m, arch, arrays))
    prices = price_list(arch, accounting=accounting)
    e = energy_pj(prices, r.actions, r.read_bytes, r.write_bytes, r.link_bytes, r.rf_accesses)
    root = [lvl for lvl in arrays.levels if arch.memories[lvl].parent is None]
    return {
        "latency_s": float(r.latency_s[0]), "ideal_s": float(r.ideal_s[0]),
        "compute_s": float(r.compute_s[0]), "transfer_s": float(r.transfer_s[0]),
        "energy_pj": float(e["total"][0]),
        "energy_breakdown_pj": {k: float(v[0].sum()) for k, v in e.items() if k != "total"},
        "traffic_bytes": float(sum(r.read_bytes[0, arrays.levels.index(x)]
                                   + r.write_bytes[0, arrays.levels.index(x)] for x in root)),
        "utilisation": {u: float(r.utilisation[0, k]) for k, u in enumerate(arrays.units)},
        "assumptions": list(r.assumptions) + list(assumptions),
    }


def evaluate(m: Mapping, arch, accounting: str = "complete",
             assumptions: tuple[str, ...] = ()) -> dict:
    """Latency (ideal / compute / transfer), energy, traffic, utilisation, per-Einsum rows;
    `assumptions` (the design's) are reported after the estimator's."""
    s = score(m, arch, accounting, assumptions)
    per = costs(m, arch)
    einsums = []
    for key, ec in per.items():
        unit = arch.computes[ec.unit]
        cycles = sum(n * unit.ops[op].cycles for op, n in ec.ops.items())
        einsums.append({
            "einsum": key, "unit": ec.unit, "ops": ec.ops, "pes_used": ec.lanes_used,
            "compute_s": cycles / min(ec.lanes_used, unit.lanes) / unit.frequency_hz,
            "bytes": {lvl: ec.read_bytes[lvl] + ec.write_bytes[lvl] for lvl in ec.read_bytes}})
    head = {"cascade": m.cascade.name, "arch": arch.name, "shapes": m.shapes,
            "instances": m.instances}
    tail = {"einsums": einsums, "accounting": accounting, "assumptions": s.pop("assumptions")}
    return head | s | tail
