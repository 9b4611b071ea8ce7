"""Evaluate one design on one workload: the numbers, their split and the assumptions behind them.

A design turns (workload, sequence length, architecture) into a general Mapping; the estimator
scores it; energy prices its counts. Per-Einsum rows come from the plain model (the same
numbers, readable per Einsum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from archsim.estimator import ArchArrays, estimate
from archsim.units import format_size
from energy import energy_pj, price_list
from mappers import gpu
from mappers.compile import compile_mapping
from mappers.mapping import Mapping, MappingError
from mappers.plain import compute_seconds, costs, root_live_bytes
from mappers.search import SearchResult
from mappers.flat import cascade, flat, flat_configuration
from mappers.spatial import fusemax, search_one_pass, unfused
from mappers import spatial

from .workloads import Workload


#: the component names each substrate's mappings read (a spec renaming one is refused)
NAMED_COMPONENTS = {"spatial": spatial.COMPONENTS, "gpu": gpu.COMPONENTS}


def require_components(design_name: str, arch) -> None:
    """A one-line error when `arch` lacks a component its substrate's mappings read by name."""
    named = NAMED_COMPONENTS.get(arch.substrate, ())
    missing = [n for n in named if n not in arch.computes and n not in arch.memories]
    if missing:
        raise ValueError(f"design '{design_name}' places its work on components named "
                         f"{', '.join(named)}; '{arch.name}' has no {', '.join(missing)} "
                         f"(its components: {', '.join([*arch.computes, *arch.memories])})")


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
    assumptions: tuple[str, ...] = ()  # what the design adds to the estimator's assumptions

    def check(self, arch) -> None:
        """A one-line error when `arch` is not of the substrate this design maps onto."""
        if arch.substrate != self.substrate:
            raise ValueError(f"design '{self.name}' maps onto a {self.substrate} architecture, "
                             f"not '{arch.name}' ({arch.substrate}; its preset: {self.arch})")
        require_components(self.name, arch)


def _search_one_pass(w: Workload, seq: int, arch) -> SearchResult:
    return search_one_pass(w.head_dim, seq, w.batch * w.heads, arch)


def _found(r: SearchResult, arch, partial: bool = True) -> Mapping:
    """The search's best mapping. Without `partial` (a build, as a sweep's point is) a search
    cut short by Ctrl-C is re-raised, so its best-so-far is never recorded as a finished point."""
    if r.interrupted and not partial:
        raise KeyboardInterrupt
    if r.mapping is None:
        raise MappingError(f"the search was interrupted before it found a mapping that fits "
                           f"'{arch.name}'" if r.interrupted else
                           f"the search found no mapping that fits '{arch.name}'")
    return r.mapping


def search_report(r: SearchResult) -> dict:
    """What a search did: mappings scored and fitting, structures tried, seconds taken."""
    return {"mappings_scored": r.scored, "mappings_valid": r.valid, "structures": r.structures,
            "seconds": r.seconds, "interrupted": r.interrupted}


def _prefill(w: Workload, seq: int) -> gpu.Attention:
    return gpu.Attention(w.batch, w.heads, w.head_dim, seq)


def _decode(w: Workload, context: int) -> gpu.Attention:
    return gpu.Attention(w.batch, w.heads, w.head_dim, 1, context)


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
    Design("flat", "three_pass", "spatial",
           lambda w, n, a: flat(w.head_dim, n, w.batch * w.heads, a,
                                flat_configuration(w.batch, w.heads, w.head_dim, n, a)),
           "FLAT: 3-pass cascade fused per head or block of query rows, softmax on the 1D array "
           "over the buffered scores (run with --arch flat)", "flat",
           assumptions=("FLAT configuration (granularity, P1, on-chip tensors, stationarity) from the FuseMax "
            "artifact's table (studies/data/fusemax/flat_configurations.csv) for the workloads "
            "it lists on 256x256 PEs and a 32 MiB buffer, else the rule mappers.flat.flat_rule",
            "FLAT spills 1 - min(1, buffer / (P1 M w + 2 p^2 w)) of its on-chip tensors to DRAM "
            "(score block plus two staging tiles)")),
    Design("cascade", "one_pass", "spatial",
           lambda w, n, a: cascade(w.head_dim, n, w.batch * w.heads, a),
           "1-pass cascade on FLAT's hardware: matmuls on the 2D array, the rest on the 1D array "
           "(run with --arch flat)", "flat",
           assumptions=("cascade: exponentials cost what the 1D array's exp costs (flat preset: 1 cycle, "
            "exp + add energy) and P1 is sized for this buffer; `attnsim reproduce fusemax` "
            "uses the artifact's switches instead (mappers.flat.CASCADE_ARTIFACT_*)",)),
    Design("search", "one_pass", "spatial",
           lambda w, n, a: _found(_search_one_pass(w, n, a), a, partial=False),
           "search over tile factors and bindings of the 1-pass cascade (FuseMax's among them)",
           search=_search_one_pass),
    # GPU designs (studies/gpu_evaluate.py adds causal, decode and the GPU result fields)
    Design("fa2", "one_pass", "gpu", lambda w, n, a: gpu.flash(_prefill(w, n), a, "fa2").mapping,
           "FlashAttention-2: CTAs of query tiles, K/V streamed, softmax not overlapped", "h100"),
    Design("fa3", "one_pass", "gpu", lambda w, n, a: gpu.flash(_prefill(w, n), a, "fa3").mapping,
           "FlashAttention-3: softmax overlapped with the next tile's GEMMs (wgmma)", "h100"),
    Design("standard", "three_pass", "gpu",
           lambda w, n, a: gpu.standard(_prefill(w, n), a).mapping,
           "standard attention on a GPU: QK^T to HBM, softmax (PyTorch's: three_pass_recompute "
           "beyond 1024 keys), PV", "h100"),
    Design("fa1", "one_pass", "gpu", lambda w, n, a: gpu.fa1(_prefill(w, n), a).mapping,
           "FlashAttention-1 forward: K/V blocks outer, query blocks inner, O/l/m through HBM",
           "a100"),
    Design("fa1_backward", "backward_flash", "gpu",
           lambda w, n, a: gpu.fa1(_prefill(w, n), a, "backward").mapping,
           "FlashAttention-1 backward (Algorithm 4): S, P recomputed per tile, dQ through HBM",
           "a100"),
    Design("standard_backward", "backward_standard", "gpu",
           lambda w, n, a: gpu.standard_backward(_prefill(w, n), a).mapping,
           "standard attention backward: dV, dP, softmax backward, dQ, dK as kernels via HBM",
           "a100"),
    Design("standard_dropout", "three_pass_dropout", "gpu",
           lambda w, n, a: gpu.standard_dropout(_prefill(w, n), a).mapping,
           "standard attention in training (PyTorch): scale, QK, padding mask, softmax, dropout, "
           "PV as kernels via HBM", "a100"),
    Design("standard_dropout_backward", "backward_standard_dropout", "gpu",
           lambda w, n, a: gpu.standard_dropout(_prefill(w, n), a, "backward").mapping,
           "its autograd backward: PV, dropout, softmax, mask, QK and scale backward as kernels "
           "via HBM", "a100"),
    Design("flash_decoding", "decode_split_k", "gpu",
           lambda w, n, a: gpu.flash_decoding(_decode(w, n), a).mapping,
           "Flash-Decoding (split-K) for one query over a context of the given length", "h100"),
    Design("lean", "decode_split_k", "gpu", lambda w, n, a: gpu.lean(_decode(w, n), a).mapping,
           "LeanAttention (stream-K) for one query over a context of the given length", "h100"),
)}


def design(name: str) -> Design:
    """A design by name; the error lists the known ones."""
    if name not in DESIGNS:
        raise ValueError(f"unknown mapper '{name}' (mappers: {', '.join(DESIGNS)})")
    return DESIGNS[name]


def common_phase(designs: dict[str, Design]) -> str:
    """The phase designs compared with each other share (prefill, `seq` queries, unless they
    decode one query per head over `seq` keys: `GPU_DESIGNS`' phase); `designs` maps a label
    (the option naming it) to each, and designs of both phases are refused."""
    from .gpu_evaluate import GPU_DESIGNS

    phase = {opt: GPU_DESIGNS[d.name].phase if d.name in GPU_DESIGNS else "prefill"
             for opt, d in designs.items()}
    phases = set(phase.values())
    if len(phases) > 1:
        names = ", ".join(f"{opt} ({phase[opt]})" for opt in designs)
        raise ValueError(f"the designs compared are of different phases ({names}): a decode "
                         f"step and a prefill are not compared; take them apart")
    return phases.pop() if phases else "prefill"


def run_design(d: Design, w: Workload, seq: int, arch, accounting: str = "complete") -> dict:
    """Build and evaluate a design's mapping; a searching design also reports its search."""
    d.check(arch)
    if d.search is None:
        return evaluate(d.build(w, seq, arch), arch, accounting, d.assumptions)
    r = d.search(w, seq, arch)
    return evaluate(_found(r, arch), arch, accounting, d.assumptions) | {
        "search": search_report(r)}


def measure(m: Mapping, arch, accounting: str = "complete"):
    """One mapping through the estimator and the price list: the architecture's arrays, the
    Estimate and the energy by component (raises CapacityError if its tiles do not fit)."""
    arrays = ArchArrays.from_arch(arch)
    r = estimate(arrays, compile_mapping(m, arch, arrays))
    e = energy_pj(price_list(arch, accounting=accounting), r.actions, r.read_bytes,
                  r.write_bytes, r.link_bytes, r.rf_accesses)
    return arrays, r, e


def hbm_fits(m: Mapping, arch) -> None:
    """A GPU mapping whose tensors live in HBM at once (`plain.root_live_bytes`) exceed it is
    refused in one line: the GPU would run out of memory. (A spatial array's DRAM is
    unbounded; storage designs place their tensors themselves.)"""
    if arch.substrate != "gpu":
        return
    root = arch.roots()[0]
    live, tensors = root_live_bytes(m, root)
    cap = arch.memories[root].capacity_bytes
    if live > cap:
        top = ", ".join(f"{t} {b / 1e9:.1f} GB" for t, b in
                        sorted(tensors.items(), key=lambda kv: -kv[1])[:3])
        raise ValueError(f"out of memory: the {m.cascade.name} mapping holds {live / 1e9:.1f} GB "
                         f"in {root} at once ({top}), more than the {format_size(cap)} of "
                         f"'{arch.name}'")


def score(m: Mapping, arch, accounting: str = "complete",
          assumptions: tuple[str, ...] = ()) -> dict:
    """Latency (ideal / compute / transfer), energy, DRAM traffic and utilisation of a mapping:
    the scalars of `evaluate` without its per-Einsum rows (what a sweep keeps per point);
    `assumptions` (the design's) are reported after the estimator's. A GPU mapping must fit
    its HBM (`hbm_fits`)."""
    hbm_fits(m, arch)
    arrays, r, e = measure(m, arch, accounting)
    root = [lvl for lvl in arrays.levels if arch.memories[lvl].parent is None]
    return {
        "latency_s": float(r.latency_s[0]), "ideal_s": float(r.ideal_s[0]),
        "compute_s": float(r.compute_s[0]), "transfer_s": float(r.transfer_s[0]),
        "energy_pj": float(e["total"][0]),
        "energy_breakdown_pj": {k: float(v[0].sum()) for k, v in e.items() if k != "total"},
        "traffic_bytes": float(sum(r.read_bytes[0, arrays.levels.index(x)]
                                   + r.write_bytes[0, arrays.levels.index(x)] for x in root)),
        "utilisation": {u: float(r.utilisation[0, k]) for k, u in enumerate(arrays.units)},
        "busy_s": {u: float(r.busy_s[0, k]) for k, u in enumerate(arrays.units)},
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
        einsums.append({
            "einsum": key, "unit": ec.unit, "ops": ec.ops, "pes_used": ec.lanes_used,
            "compute_s": compute_seconds(m, key, ec, arch),
            "bytes": {lvl: ec.read_bytes[lvl] + ec.write_bytes[lvl] for lvl in ec.read_bytes}})
    head = {"cascade": m.cascade.name, "arch": arch.name, "shapes": m.shapes,
            "instances": m.instances}
    tail = {"einsums": einsums, "accounting": accounting, "assumptions": s.pop("assumptions")}
    return head | s | tail
