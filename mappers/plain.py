"""Plain-Python evaluation of one mapping: the readable statement of the model.

It turns a Mapping into per-Einsum work and traffic, then composes latency from the schedule,
with ordinary loops over objects. The Numba path (mappers.compile + archsim.estimator) computes
the same numbers for millions of mappings at once; tests hold the two equal and `attnsim bench`
reports their speed ratio.

Traffic across the boundary below memory level X, for a tensor T of an Einsum (Timeloop's
reuse model): tile(T) below X times the number of times that tile is delivered, which is the
product of every temporal loop at or above X up to the innermost one indexing T (loops inside
that one reuse the tile), times every spatial loop at or above X indexing T (a spatial loop
that does not index T multicasts it, unless marked `multicast=False`: then each of its
instances fetches its own copy of an operand). Outputs travel up the same way; when a reduction loop
sits outside the output's last loop, partial sums are written back and read again. A tensor
that spills a share s of its tile at a memory moves (1 - s) of its traffic as above and s as if
it bypassed that memory (served from the one above), and occupies (1 - s) of its tile there.
A memory holds the tiles of one phase at a time (Mapping.phases: separate kernels in turn, the
stages a fusion group joins together), and what a fusion group keeps there from the phase that
first holds it to the last (`resident_bytes`).

Register-file accesses, per Einsum over all PEs of its unit (words): every iteration-space
point reads each input operand once and updates its output once; the output is also read at
every update but the first of each value a PE holds (points - distinct, a PE holding its own
partial sums where a spatial loop reduces); every value arriving from the innermost memory is
written (a fill: each PE of a multicast group fills its own copy), and so is every partial sum
read back. A tensor kept in the PEs arrives without a fill (its producer's updates wrote it).

A tensor homed off the path (`Mapping.home`) enters it at the nearest path memory: the levels
above the entry see none of it, and every byte the entry delivers (or an output's, receives)
first travels the route: read at the home, read and written at each memory between, carried by
each link, written at the entry (outputs the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from archsim.estimator import capped_seconds
from einsum_cascades.ir import Ref, refs

from .mapping import (EinsumMapping, Loop, Mapping, MappingError, Route, Stage, epoch_ranks,
                      keep_depth, route, source_tensor, working_einsums)
from .ops import op_counts


@dataclass
class EinsumCost:
    """Work and traffic of one bound Einsum."""

    unit: str
    ops: dict[str, float]
    lanes_used: float
    read_bytes: dict[str, float]
    write_bytes: dict[str, float]
    footprint: dict[str, dict[str, float]]  # memory -> tensor (its space) -> resident bytes
    rf_accesses: float = 0.0  # register-file reads + writes of all the unit's PEs, in words
    link_bytes: dict[str, float] = field(default_factory=dict)
    phase: int = 0  # the phase it runs in (Mapping.phases)
    #: memory -> the spaces of its footprint there that a fusion group keeps at that memory
    #: (they stay there between phases)
    stays: dict[str, set[str]] = field(default_factory=dict)


def nest(m: Mapping, em: EinsumMapping, path: tuple[str, ...]) -> list[tuple[int, Loop]]:
    """(level index, loop) outermost first, completed so each rank's factors reach its shape."""
    e = next((x for x in working_einsums(m.cascade) if x.key == em.einsum), None)
    if e is None:
        raise MappingError(f"mapping binds '{em.einsum}', which is not a working Einsum of "
                           f"'{m.cascade.name}'")
    listed = tuple(lv.memory for lv in em.levels)
    if any(x not in path for x in listed) or list(listed) != [p for p in path if p in listed]:
        raise MappingError(f"'{em.einsum}': levels {', '.join(listed)} are not on the path "
                           f"{' -> '.join(path)} to unit '{em.unit}'")
    shapes = m.cascade.resolve_shapes(m.shapes)
    loops = [(path.index(lv.memory), lp) for lv in em.levels for lp in lv.loops]
    done: dict[str, int] = {}
    for _, lp in loops:
        if lp.rank not in e.space:
            raise MappingError(f"'{em.einsum}' has no rank '{lp.rank}' (ranks: {', '.join(e.space)})")
        done[lp.rank] = done.get(lp.rank, 1) * lp.factor
    for r in e.space:
        got = done.get(r, 1)
        if shapes[r] % got:
            raise MappingError(f"'{em.einsum}': factors of rank '{r}' multiply to {got}, which does "
                               f"not divide its shape {shapes[r]}")
        if shapes[r] // got > 1:
            loops.append((len(path) - 1, Loop(r, shapes[r] // got)))
    return loops


def lanes_used(m: Mapping, em: EinsumMapping, loops: list[tuple[int, Loop]], unit) -> float:
    """PEs an Einsum's spatial loops use, its instances of a round together (raises past the
    unit's)."""
    lanes = (math.prod(lp.factor for _, lp in loops if lp.spatial) * m.instances
             / m.einsum_rounds(em.einsum))
    if lanes > unit.lanes:
        raise MappingError(f"'{em.einsum}': spatial loops use {lanes} PEs, unit '{em.unit}' has "
                           f"{unit.lanes}")
    return lanes


def einsum_cost(m: Mapping, em: EinsumMapping, arch, ops: dict[str, float]) -> EinsumCost:
    """Work, fan-out, traffic and footprint of one Einsum under its loop nest."""
    c = m.cascade
    e = next(x for x in working_einsums(c) if x.key == em.einsum)
    if em.unit not in arch.computes:
        raise MappingError(f"'{em.einsum}' is bound to '{em.unit}', which is not a compute unit of "
                           f"'{arch.name}' (units: {', '.join(arch.units())})")
    unit = arch.computes[em.unit]
    for op in ops:
        if op not in unit.ops:
            raise MappingError(f"'{em.einsum}' needs '{op}', which unit '{em.unit}' cannot run")
    path = arch.memory_path(em.unit)
    loops = nest(m, em, path)
    lanes = lanes_used(m, em, loops, unit)
    kept, group_kept = m.kept(em.einsum), m.kept()
    stays: dict[str, set[str]] = {}
    reads = {x: 0.0 for x in path}
    writes = {x: 0.0 for x in path}
    links: dict[str, float] = {}
    footprint: dict[str, dict[str, float]] = {x: {} for x in path}
    points = math.prod(lp.factor for _, lp in loops) * m.instances
    rf = 0.0
    operands = [(r, False) for r in dict((r.tensor, r) for r in refs(e.expr)).values()]
    out_ref = Ref(e.output, tuple(i for i in e.out_indices), e.pos)
    for ref, is_out in operands + [(out_ref, True)]:
        tensor = source_tensor(c, ref.tensor)
        ranks = set(ref.ranks) if not is_out else set(e.out_ranks)
        word = c.tensors[tensor].word_bytes
        live = ranks - {c.tensors[tensor].iterative}
        keep = keep_depth(kept, tensor, path)
        stay = keep_depth(group_kept, tensor, path) if tensor in group_kept else -1
        way = route(arch, m.home[tensor], path) if tensor in m.home else Route(0, (), ())
        travels = keep <= way.entry and len(way.memories) > 1  # a fusion keep holds it below
        keep = max(keep, way.entry)
        skip = em.bypassed(ref.tensor, path) | em.bypassed(tensor, path)
        if way.entry in skip:
            raise MappingError(f"'{em.einsum}' bypasses '{path[way.entry]}', where '{tensor}' "
                               f"enters from its home '{m.home[tensor]}'")
        whole = math.prod(lp.factor for _, lp in loops if lp.rank in ranks)
        rf += rf_accesses(loops, ranks, points, whole * m.instances, is_out,
                          keep >= len(path), m.instances)
        spilled, share = m.spill_depth(tensor, path)
        # a spilled share of the tile streams past its memory (as if bypassed), the rest as usual
        variants = [(skip, 1.0)] if spilled < 0 else [(skip, 1.0 - share),
                                                       (skip | {spilled}, share)]
        for k, (skip, weight) in enumerate(variants):
            moving = travels  # each variant's first delivery travels the route first
            for d in range(len(path)):
                tile = math.prod(lp.factor for lv, lp in loops if lv > d and lp.rank in ranks)
                if k == 0 and d > 0 and d >= keep and d not in skip:
                    fits = 1.0 - share if d == spilled else 1.0
                    space = m.space_of(tensor)  # a tensor written in place shares its host's
                    footprint[path[d]][space] = max(footprint[path[d]].get(space, 0.0),
                                                    tile_at(loops, d, live) * word * fits)
                    if d == stay:
                        stays.setdefault(path[d], set()).add(space)
                if d < keep or d + 1 in skip:
                    continue
                src = path[max(j for j in range(d + 1) if j not in skip)]  # nearest holder
                above = [lp for lv, lp in loops if lv <= d]
                last = max((j for j, lp in enumerate(above)
                            if not lp.spatial and lp.rank in ranks), default=-1)
                deliveries = math.prod(lp.factor for j, lp in enumerate(above)
                                       if (not lp.spatial and j <= last)
                                       or (lp.spatial and (lp.rank in ranks
                                                           or not (lp.multicast or is_out))))
                volume = tile * deliveries * word * m.instances * weight
                if moving:
                    travel(way, volume, is_out, reads, writes, links)
                    moving = False
                child = path[d + 1] if d + 1 < len(path) else None
                if not is_out:
                    reads[src] += volume
                    if child:
                        writes[child] += volume
                else:
                    writes[src] += volume
                    if child:
                        reads[child] += volume
                    psum = volume - whole * word * m.instances * weight
                    if psum > 0:
                        reads[src] += psum
                        if child:
                            writes[child] += psum
    return EinsumCost(em.unit, ops, float(lanes), reads, writes, footprint, float(rf), links,
                      m.phases()[em.einsum], stays)


def rf_accesses(loops: list[tuple[int, Loop]], ranks: set[str], points: float, whole: float,
                is_out: bool, in_pes: bool, instances: int) -> float:
    """Register-file reads + writes of one tensor of an Einsum, all PEs together (module doc):
    values at the PEs = the innermost memory's deliveries times every spatial loop that does
    not index the tensor (each PE of a multicast or spatial-reduction group has its own)."""
    copies = math.prod(lp.factor for _, lp in loops if lp.spatial and lp.rank not in ranks)
    last = max((k for k, (_, lp) in enumerate(loops) if not lp.spatial and lp.rank in ranks),
               default=-1)
    arriving = math.prod(lp.factor for k, (_, lp) in enumerate(loops)
                         if (not lp.spatial and k <= last) or lp.spatial) * instances
    if not is_out:
        return points + (0.0 if in_pes else arriving)
    distinct = whole * copies
    refills = 0.0 if in_pes else max(arriving - distinct, 0.0)
    return points + (points - distinct) + refills


def travel(way: Route, volume: float, is_out: bool, reads: dict[str, float],
           writes: dict[str, float], links: dict[str, float]) -> None:
    """Bytes along a route: read at one end, written at the other, both at memories between,
    over every link (an input from its home to the entry, an output back)."""
    for mem in way.memories:
        reads.setdefault(mem, 0.0)
        writes.setdefault(mem, 0.0)
    src, dst = (way.memories[-1], way.memories[0]) if is_out else (way.memories[0],
                                                                    way.memories[-1])
    reads[src] += volume
    writes[dst] += volume
    for mid in way.memories[1:-1]:
        reads[mid] += volume
        writes[mid] += volume
    for link in way.links:
        links[link] = links.get(link, 0.0) + volume


def tile_at(loops: list[tuple[int, Loop]], d: int, ranks: set[str]) -> float:
    """Elements of a tensor resident in one instance of path level d (loops at d and below;
    an iterative rank is left out of `ranks` by the caller, only its current iterate is live)."""
    return float(math.prod(lp.factor for lv, lp in loops if lv >= d and lp.rank in ranks))


def costs(m: Mapping, arch, ops: dict[str, dict[str, float]] | None = None
          ) -> dict[str, EinsumCost]:
    """EinsumCost of every bound Einsum (every working Einsum bound exactly once); `ops` are
    the op counts per Einsum when the caller already has them (they depend on shapes only)."""
    keys = [x.key for x in working_einsums(m.cascade)]
    bound = [em.einsum for em in m.einsums]
    missing = [k for k in keys if k not in bound]
    if missing:
        raise MappingError(f"mapping of '{m.cascade.name}' binds no unit for {', '.join(missing)}")
    if len(set(bound)) != len(bound):
        raise MappingError("mapping binds an Einsum twice")
    ops = ops if ops is not None else op_counts(m.cascade, m.shapes)
    return {em.einsum: einsum_cost(m, em, arch, {op: n * m.instances * em.padding
                                                 for op, n in ops[em.einsum].items()})
            for em in m.einsums}


def resident_bytes(per: dict[str, EinsumCost]) -> dict[str, float]:
    """Bytes one instance of each memory level holds under a mapping (its costs `per`), the
    most of any phase (Mapping.phases): in a phase, per tensor space the largest tile an Einsum
    of the phase holds there, summed over spaces; a space a fusion group keeps at the level is
    there, at its largest tile, in every phase from the first to the last that holds it. A
    mapping fits where this is within every level's capacity (mappers.compile checks it, and
    reports it)."""
    held: dict[str, dict[str, dict[int, float]]] = {}  # level -> space -> phase -> bytes
    stays: dict[str, set[str]] = {}
    for ec in per.values():
        for level, tiles in ec.footprint.items():
            spaces = held.setdefault(level, {})
            for space, b in tiles.items():
                at = spaces.setdefault(space, {})
                at[ec.phase] = max(at.get(ec.phase, 0.0), b)
        for level, kept in ec.stays.items():
            stays.setdefault(level, set()).update(kept)
    out = {}
    for level, spaces in held.items():
        load: dict[int, float] = {}  # phase -> bytes
        for space, at in spaces.items():
            if space in stays.get(level, ()):
                at = dict.fromkeys(range(min(at), max(at) + 1), max(at.values()))
            for phase, b in at.items():
                load[phase] = load.get(phase, 0.0) + b
        out[level] = max(load.values(), default=0.0)
    return out


def epochs_of(m: Mapping, stage: Stage, arch) -> int:
    """Derived epochs of a stage: its first Einsum's temporal loops on the shared ranks, once
    per round of parallel instances."""
    ranks = epoch_ranks(m.cascade, stage)
    em = next(x for x in m.einsums if x.einsum == stage.einsums[0])
    path = arch.memory_path(em.unit)
    return m.stage_rounds(stage) * math.prod(lp.factor for _, lp in nest(m, em, path)
                                   if not lp.spatial and lp.rank in ranks)


def compute_seconds(m: Mapping, key: str, ec: EinsumCost, arch) -> float:
    """An Einsum's compute time: its ops' cycles over the PEs it uses, held to its unit's
    `attainable` share round by round (`capped_seconds`, as the Numba estimator does)."""
    unit = arch.computes[ec.unit]
    cycles = sum(n * unit.ops[op].cycles for op, n in ec.ops.items())
    return capped_seconds(cycles, ec.lanes_used, unit.attainable_lanes, m.einsum_rounds(key),
                          m.einsum_tail(key), unit.frequency_hz)


def evaluate(m: Mapping, arch, ops: dict[str, dict[str, float]] | None = None
             ) -> dict[str, float]:
    """Latency and its split of one mapping, composed from the schedule (plain Python)."""
    per = costs(m, arch, ops)
    total = comp_total = mem_total = 0.0
    for stage in m.stages_or_default():
        busy: dict[str, float] = {}
        mem: dict[str, float] = {}
        seq = seq_c = seq_m = 0.0
        for key in stage.einsums:
            ec = per[key]
            t_c = compute_seconds(m, key, ec, arch)
            busy[ec.unit] = busy.get(ec.unit, 0.0) + t_c
            t_m = 0.0
            for lvl in ec.read_bytes:
                mm = arch.memories[lvl]
                t = (ec.read_bytes[lvl] + ec.write_bytes[lvl]) / (
                    mm.bandwidth_bytes_per_s * mm.count)
                mem[lvl] = mem.get(lvl, 0.0) + t
                t_m = max(t_m, t)
            for name, n in ec.link_bytes.items():
                lk = arch.links[name]
                t = n / (lk.bandwidth_bytes_per_s * lk.count)
                mem[name] = mem.get(name, 0.0) + t
                t_m = max(t_m, t)
            seq += max(t_c, t_m)
            seq_c += t_c
            seq_m += t_m
        if stage.mode == "sequential":
            t, t_c, t_m = seq, seq_c, seq_m
        else:
            n = stage.epochs * m.stage_rounds(stage) or epochs_of(m, stage, arch)
            t_c = sum(busy.values()) / n + (n - 1) * max(busy.values(), default=0.0) / n
            t_m = max(mem.values(), default=0.0)
            t = max(t_c, t_m)
        total += t
        comp_total += t_c
        mem_total += t_m
    return {"latency_s": total, "compute_s": comp_total, "transfer_s": mem_total}


def root_live_bytes(m: Mapping, root: str) -> tuple[float, dict[str, float]]:
    """Bytes the root memory `root` holds at once under a mapping, the most of any phase
    (Mapping.phases), and the tensors live then: the inputs and outputs all along, an
    intermediate no fusion group keeps below the root from the phase that writes it to the
    last that reads it, each for all instances (a score-shaped input, the causal mask, is one
    tensor shared by every instance). What a capacity check of the root needs (GPU HBM)."""
    c = m.cascade
    shapes, phase, kept = c.resolve_shapes(m.shapes), m.phases(), m.kept()
    last = max(phase.values(), default=0)
    span: dict[str, list[int]] = {t: [0, last] for t in c.inputs + c.outputs}
    for e in working_einsums(c):
        at = phase[e.key]
        out = span.setdefault(m.space_of(e.output), [at, at])
        out[0] = min(out[0], at)
        for t in e.inputs:
            src = span.setdefault(m.space_of(source_tensor(c, t)), [at, at])
            src[1] = max(src[1], at)

    def size(t: str) -> float:
        v = c.tensors[t]
        shared = v.is_input and set(v.ranks) == {"m", "p"}
        return (math.prod(shapes[r] for r in v.ranks) * v.word_bytes
                * (1 if shared else m.instances))

    live = {t: (a, b) for t, (a, b) in span.items() if kept.get(t, root) == root}
    loads = [{t: size(t) for t, (a, b) in live.items() if a <= p <= b} for p in range(last + 1)]
    peak = max(loads, key=lambda d: sum(d.values()))
    return sum(peak.values()), peak
