"""Compile mappings into the estimator's arrays, many at once.

A `Template` is the structure of a mapping (binding, loop order, levels, fusion, schedule) with
the loop factors left open. Everything the traffic model (mappers.plain states it) needs from a
mapping is a product of some of its loop factors: the tile of a tensor below a level, the number
of times that tile is delivered, what stays resident, the PEs used, each rank's total. Which
factors enter which product depends only on the structure, so the Template lists them once
(flat index lists); `compile` then evaluates the products for every candidate in one Numba
call and says which candidates fit (factors that multiply to the shapes, a fan-out within the
unit's PEs, each phase's tiles within every memory's capacity: mappers.plain.resident_bytes).

Factors come as columns of an array F[n, C]: by default one column per loop slot of every
Einsum (`factors_of`), or any other layout given by `bind(columns, base)`, e.g. the shared nest
of a fused cascade where many Einsums read the same column. What a mapping fixes besides its
factors but not its loop structure (its shapes, instances and rounds, op counts and fixed
epochs) is its `Rows`: mappings of one `family` compile with one Template, each candidate
bringing its own row (`rows_of`), by default the row of the mapping the Template was built from.

A tensor homed off a path (`Mapping.home`) adds route entries: the first traffic term of the
tensor (at the depth where it enters the path) also reads, writes or crosses, by the same
volume, each memory and link of its route (mappers.plain.travel states the rule).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, fields, replace

import numpy as np
from numba import njit, prange

from archsim.estimator import PIPELINED, SEQUENTIAL, ArchArrays, MappingBatch, row_chunks
from einsum_cascades import CascadeError
from einsum_cascades.ir import Ref, refs

from .mapping import (CapacityError, Loop, Mapping, MappingError, epoch_ranks, keep_depth, route,
                      source_tensor, working_einsums)
from .ops import op_counts
from .plain import costs as plain_costs
from .plain import lanes_used, nest


@dataclass(frozen=True)
class _Slot:
    """One loop of one Einsum: its path depth, loop, and the tensors' relation to it."""

    level: int
    loop: Loop


@dataclass
class _Products:
    """Products of factor columns: start/end into `cols`, times a constant and a row
    parameter (`param`, -1 for none)."""

    cols: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    const: list[float] = field(default_factory=list)
    param: list[int] = field(default_factory=list)
    seen: dict[tuple, int] = field(default_factory=dict)

    def add(self, members: list[tuple[int, float]], param: int = -1) -> int:
        """A product of (column or -1, factor) members, times row parameter `param` (after the
        constants, before the columns); returns its id (shared when equal)."""
        c = 1.0
        used = []
        for col, factor in members:
            if col < 0:
                c *= factor
            else:
                used.append(col)
        key = (tuple(sorted(used)), c, param)
        if key not in self.seen:
            self.seen[key] = len(self.start)
            self.start.append(len(self.cols))
            self.cols.extend(key[0])
            self.end.append(len(self.cols))
            self.const.append(c)
            self.param.append(param)
        return self.seen[key]


@dataclass
class Kernel:
    """The flat product lists and traffic terms of a Template bound to a column layout."""

    n_cols: int
    cols: np.ndarray
    start: np.ndarray
    end: np.ndarray
    const: np.ndarray
    param: np.ndarray        # [K] row parameter each product takes (`Rows.params`), -1 none
    check_prod: np.ndarray   # products that must equal the shapes (`Rows.checks`)
    lanes_prod: np.ndarray   # [E]
    terms: np.ndarray        # [Tm, 10] int: e, g, child, tensor, is_out, tile, deliv, res, whole, traffic
    word: np.ndarray         # [Tm] bytes per element moved (times the share of a spill variant)
    res_word: np.ndarray     # [Tm] bytes per element resident (times the share that fits)
    epoch_prod: np.ndarray   # [S] product giving a stage's derived epochs, -1 if fixed
    points_prod: np.ndarray  # [E] iteration-space points of each Einsum
    rf_terms: np.ndarray     # [R, 6] int: e, is_out, in_pes, arriving, whole, copies (products)
    route: np.ndarray        # [R, 3] int: term, level or link index, 0 read / 1 write / 2 link
    spans: np.ndarray        # [S, 4] int: level, space, first and last phase holding it there
    #                          (a space a fusion group keeps at the level: mappers.plain.resident_bytes)


@dataclass
class Rows:
    """What mappings of one `family` differ in besides their loop factors, a row each: the
    shapes their factors multiply to, their instances and rounds (parameters of the products),
    op counts and the epochs of stages that fix them."""

    checks: np.ndarray  # [n, C] shape of each (Einsum, rank): Einsums in order, ranks by space
    params: np.ndarray  # [n, 1 + E + S] instances, instances per round of each Einsum (its
    #                     stage's parallel instances), rounds of each stage
    ops: np.ndarray     # [n, E, O] ops of each Einsum, all instances
    epochs: np.ndarray  # [n, S] fixed epochs of each stage times its rounds
    rounds: np.ndarray  # [n, E] rounds of each Einsum's stage
    tail: np.ndarray    # [n, E] its last round's share of a full one (Mapping.einsum_tail)

    @classmethod
    def stack(cls, rows: list["Rows"]) -> "Rows":
        """Rows of many mappings as one."""
        return cls(*(np.concatenate([getattr(r, f.name) for r in rows]) for f in fields(cls)))


def rows_of(m: Mapping, arrays: ArchArrays) -> Rows:
    """A mapping's row of `Rows` (raises MappingError for instances it cannot run)."""
    c = m.cascade
    full = c.resolve_shapes(m.shapes)
    work = {e.key: e for e in working_einsums(c)}
    ops = op_counts(c, m.shapes)
    op_arr = np.zeros((1, len(m.einsums), len(arrays.ops)))
    for k, em in enumerate(m.einsums):
        for op, n in ops[em.einsum].items():
            op_arr[0, k, arrays.ops.index(op)] = n * m.instances * em.padding
    stages = m.stages_or_default()
    params = ([float(m.instances)] + [m.instances / m.einsum_rounds(em.einsum) for em in m.einsums]
              + [float(m.stage_rounds(st)) for st in stages])
    return Rows(np.array([[float(full[r]) for em in m.einsums for r in work[em.einsum].space]]),
                np.array([params]), op_arr,
                np.array([[float(st.epochs * m.stage_rounds(st)) for st in stages]]),
                np.array([[float(m.einsum_rounds(em.einsum)) for em in m.einsums]]),
                np.array([[m.einsum_tail(em.einsum) for em in m.einsums]]))


@dataclass
class Template:
    """The fixed structure of a family of mappings; factors vary per candidate."""

    keys: tuple[str, ...]
    slots: tuple[tuple[_Slot, ...], ...]   # per Einsum, its loops (completed) outermost first
    paths: tuple[tuple[int, ...], ...]     # per Einsum, global level index at each depth
    tensors: tuple[tuple[tuple[int, bool, frozenset, frozenset, int, float, frozenset,
                               tuple[int, float], tuple[tuple[int, int], ...], int], ...], ...]
    shapes: tuple[dict[str, int], ...]     # per Einsum, its rank shapes
    unit_lanes: np.ndarray
    capacity: np.ndarray
    n_tensors: int
    static: MappingBatch
    rows: Rows  # those of the mapping it was built from, for factors given without rows
    n_links: int
    epoch_slots: tuple[tuple[int, frozenset] | None, ...]  # per stage: (Einsum, ranks) if derived
    phase: np.ndarray  # [E] int: the phase each Einsum runs in (Mapping.phases)
    _identity: Kernel | None = None

    @classmethod
    def from_mapping(cls, m: Mapping, arch, arrays: ArchArrays) -> "Template":
        """The structure of `m` (checked by the plain model), its factors left open; a mapping
        of a `family` met before on an architecture of the same topology reuses the Template
        built then, as `_member` makes it (`m`'s own loops, rows and checks, the capacities of
        `arrays`)."""
        try:
            key = (family(m, arch), _topology(arch, arrays))
        except (CascadeError, KeyError):  # a nest or unit the plain model refuses, in its words
            return cls._build(m, arch, arrays)
        hit = _TEMPLATES.get(key)
        if hit is not None and hit[0] is m.cascade:
            return hit[1]._member(m, arch, arrays)
        t = cls._build(m, arch, arrays)
        if len(_TEMPLATES) >= _TEMPLATES_SIZE:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[key] = (m.cascade, t)
        return t

    @classmethod
    def _build(cls, m: Mapping, arch, arrays: ArchArrays) -> "Template":
        plain_costs(m, arch)  # every structural check, with its clear message
        c = m.cascade
        full = c.resolve_shapes(m.shapes)
        work = {e.key: e for e in working_einsums(c)}
        names = list(dict.fromkeys(source_tensor(c, t) for t in c.tensors))
        slots, paths, tensors, shapes = [], [], [], []
        for em, loops in zip(m.einsums, nests(m, arch)):
            e = work[em.einsum]
            kept, group_kept = m.kept(em.einsum), m.kept()
            path = arch.memory_path(em.unit)
            slots.append(tuple(_Slot(lv, lp) for lv, lp in loops))
            paths.append(tuple(arrays.levels.index(x) for x in path))
            shapes.append({r: full[r] for r in e.space})
            row = []
            operands = list(dict((r.tensor, r) for r in refs(e.expr)).values())
            for ref, out in [(r, False) for r in operands] + [
                    (Ref(e.output, e.out_indices, e.pos), True)]:
                name = source_tensor(c, ref.tensor)
                ranks = frozenset(e.out_ranks if out else ref.ranks)
                live = ranks - {c.tensors[name].iterative}
                keep = keep_depth(kept, name, path)
                stay = keep_depth(group_kept, name, path) if name in group_kept else -1
                skip = frozenset(em.bypassed(ref.tensor, path) | em.bypassed(name, path))
                trip: tuple[tuple[int, int], ...] = ()
                if name in m.home:
                    way = route(arch, m.home[name], path)
                    if keep <= way.entry and len(way.memories) > 1:
                        src, dst = (way.memories[-1], way.memories[0]) if out else (
                            way.memories[0], way.memories[-1])
                        trip = ((arrays.levels.index(src), 0), (arrays.levels.index(dst), 1))
                        trip += tuple((arrays.levels.index(x), k) for x in way.memories[1:-1]
                                      for k in (0, 1))
                        trip += tuple((arrays.links.index(x), 2) for x in way.links)
                    keep = max(keep, way.entry)
                row.append((names.index(m.space_of(name)), out, ranks, live, keep,
                            float(c.tensors[name].word_bytes), skip, m.spill_depth(name, path),
                            trip, stay))
            tensors.append(tuple(row))
        lanes = np.array([arch.computes[em.unit].lanes for em in m.einsums], float)
        keys = tuple(em.einsum for em in m.einsums)
        epochs = tuple((keys.index(st.einsums[0]), frozenset(epoch_ranks(c, st)))
                       if st.mode == "pipelined" and st.epochs == 0 else None
                       for st in m.stages_or_default())
        rows = rows_of(m, arrays)
        phases = m.phases()
        return cls(keys, tuple(slots), tuple(paths), tuple(tensors), tuple(shapes), lanes,
                   arrays.level_capacity.copy(), len(names), _static(m, arrays, rows), rows,
                   len(arrays.links), epochs, np.array([phases[k] for k in keys], np.int64))

    def _member(self, m: Mapping, arch, arrays: ArchArrays) -> "Template":
        """The Template `_build` makes of `m`, a mapping of this one's family, from this one:
        the family fixes every structural check the plain model makes, and what it leaves to a
        member (its loop factors, shapes, instances and rounds) is checked here as there (the
        nests in `family`, the PEs used here, the rounds in `rows_of`)."""
        loops = nests(m, arch)
        for em, nest_ in zip(m.einsums, loops):
            lanes_used(m, em, nest_, arch.computes[em.unit])
        rows = rows_of(m, arrays)
        full = m.cascade.resolve_shapes(m.shapes)
        return replace(self, slots=tuple(tuple(_Slot(lv, lp) for lv, lp in nest_)
                                         for nest_ in loops),
                       shapes=tuple({r: full[r] for r in s} for s in self.shapes),
                       capacity=arrays.level_capacity.copy(), static=_static(m, arrays, rows),
                       rows=rows)

    @property
    def width(self) -> int:
        """Loop slots of the Einsum with the most loops (J of the default layout)."""
        return max(len(s) for s in self.slots)

    def factors_of(self, m: Mapping, arch) -> np.ndarray:
        """The factor of every loop slot of a mapping with this structure, [E, J] (1 padded)."""
        out = np.ones((len(self.keys), self.width))
        for k, loops in enumerate(nests(m, arch)):
            for j, (_, lp) in enumerate(loops):
                out[k, j] = lp.factor
        return out

    def bind(self, columns: np.ndarray, base: np.ndarray) -> Kernel:
        """The kernel for factors laid out as columns: slot (e, j) reads column columns[e, j],
        or is the constant base[e, j] where columns[e, j] < 0."""
        p = _Products()

        def member(e: int, j: int) -> tuple[int, float]:
            return int(columns[e, j]), float(base[e, j])

        E = len(self.slots)
        inst = 0  # row parameters: instances (the outermost loop over them), then per Einsum
        # instances per round (its stage's parallel instances), then per stage its rounds
        checks, lanes_prod, terms, words, res_words = [], [], [], [], []
        points_prod, rf_terms, trips = [], [], []
        spans: dict[tuple[int, int], list[int]] = {}  # (level, space) kept there -> phases
        for e, slots in enumerate(self.slots):
            points_prod.append(p.add([member(e, j) for j in range(len(slots))], inst))
            for r in self.shapes[e]:
                checks.append(p.add([member(e, j) for j, s in enumerate(slots) if s.loop.rank == r]))
            lanes_prod.append(p.add([member(e, j) for j, s in enumerate(slots) if s.loop.spatial],
                                    1 + e))
            path = self.paths[e]
            for tensor, out, ranks, live, keep, word, bypass, (spilled, share), trip, stay in \
                    self.tensors[e]:
                whole = p.add([member(e, j) for j, s in enumerate(slots) if s.loop.rank in ranks],
                              inst)
                last = max((j for j, s in enumerate(slots) if not s.loop.spatial
                            and s.loop.rank in ranks), default=-1)
                rf_terms.append((e, int(out), int(keep >= len(path)), p.add(
                    [member(e, j) for j, s in enumerate(slots) if s.loop.spatial or j <= last],
                    inst), whole, p.add([member(e, j) for j, s in enumerate(slots)
                                             if s.loop.spatial and s.loop.rank not in ranks])))
                # a spilled share streams past its memory (as if bypassed), the rest as usual
                variants = [(bypass, 1.0)] if spilled < 0 else [
                    (bypass, 1.0 - share), (bypass | {spilled}, share)]
                for k, (skip, weight) in enumerate(variants):
                    way = trip  # the first term of each variant that moves it carries its route
                    for d in range(len(path)):
                        above = [j for j, s in enumerate(slots) if s.level <= d]
                        last = max((j for j in above if not slots[j].loop.spatial
                                    and slots[j].loop.rank in ranks), default=-1)
                        tile = p.add([member(e, j) for j, s in enumerate(slots)
                                      if s.level > d and s.loop.rank in ranks])
                        deliv = p.add([member(e, j) for j in above
                                       if (not slots[j].loop.spatial and j <= last)
                                       or (slots[j].loop.spatial and (
                                           slots[j].loop.rank in ranks
                                           or not (slots[j].loop.multicast or out)))],
                                      inst)
                        res = p.add([member(e, j) for j, s in enumerate(slots)
                                     if s.level >= d and s.loop.rank in live]) \
                            if k == 0 and 0 < d and keep <= d and d not in skip else -1
                        child = path[d + 1] if d + 1 < len(path) else -1
                        src = path[max(j for j in range(d + 1) if j not in skip)]
                        if res >= 0 and d == stay:
                            spans.setdefault((src, tensor), []).append(int(self.phase[e]))
                        moves = d >= keep and d + 1 not in skip
                        if moves and way:
                            trips.extend((len(terms), x, kind) for x, kind in way)
                            way = ()
                        terms.append((e, src, child, tensor, int(out), tile, deliv, res, whole,
                                      int(moves)))
                        words.append(word * weight)
                        res_words.append(word * (1.0 - share if d == spilled else 1.0))
        epoch_prod = [-1 if ep is None else p.add(
            [member(ep[0], j) for j, s in enumerate(self.slots[ep[0]])
             if not s.loop.spatial and s.loop.rank in ep[1]], 1 + E + k)
            for k, ep in enumerate(self.epoch_slots)]
        n_cols = int(columns.max()) + 1 if (columns >= 0).any() else 0
        return Kernel(n_cols, np.array(p.cols, np.int64), np.array(p.start, np.int64),
                      np.array(p.end, np.int64), np.array(p.const), np.array(p.param, np.int64),
                      np.array(checks, np.int64), np.array(lanes_prod, np.int64),
                      np.array(terms, np.int64).reshape(-1, 10), np.array(words),
                      np.array(res_words), np.array(epoch_prod, np.int64),
                      np.array(points_prod, np.int64), np.array(rf_terms, np.int64).reshape(-1, 6),
                      np.array(trips, np.int64).reshape(-1, 3),
                      np.array([(g, x, min(ph), max(ph)) for (g, x), ph in spans.items()],
                               np.int64).reshape(-1, 4))

    def compile(self, factors: np.ndarray, kernel: Kernel | None = None,
                out: tuple[MappingBatch, np.ndarray] | None = None,
                footprint: np.ndarray | None = None, rows: Rows | None = None
                ) -> tuple[MappingBatch, np.ndarray]:
        """A MappingBatch for factor choices (columns of `kernel`, by default the per-slot
        layout [n, E, J]), and which of them are valid; `out` (a previous result for as many
        candidates) is overwritten instead of allocating new arrays; `footprint`, an [n, L]
        array, receives each candidate's resident bytes per instance of every memory level
        (what the capacity check compares: mappers.plain.resident_bytes); `rows`, one per
        candidate, for mappings of this Template's `family` (else those it was built from)."""
        if kernel is None:
            if self._identity is None:
                E, J = len(self.keys), self.width
                cols = np.arange(E * J).reshape(E, J)
                for e, slots in enumerate(self.slots):
                    cols[e, len(slots):] = -1
                self._identity = self.bind(cols, np.ones((E, J)))
            kernel = self._identity
        F = np.ascontiguousarray(factors.reshape(factors.shape[0], -1), float)
        if F.shape[1] < kernel.n_cols:
            raise MappingError(f"factor array has {F.shape[1]} columns, the layout needs "
                               f"{kernel.n_cols}")
        n, E, L = F.shape[0], len(self.keys), len(self.capacity)
        s = self.static
        if rows is not None and len(rows.params) != n:
            raise MappingError(f"{len(rows.params)} rows for {n} factor choices")
        row = self.rows if rows is None else rows
        derived = (kernel.epoch_prod >= 0).any()
        if out is not None and len(out[1]) == n:
            rd, wr, lanes, valid = out[0].read_bytes, out[0].write_bytes, out[0].lanes_used, out[1]
            rf, lk = out[0].rf_accesses, out[0].link_bytes
            rd[:], wr[:], rf[:], lk[:] = 0.0, 0.0, 0.0, 0.0
            epochs = out[0].stage_epochs if derived else row.epochs
            if derived:
                epochs[:] = row.epochs
        else:
            rd, wr, rf = np.zeros((n, E, L)), np.zeros((n, E, L)), np.zeros((n, E))
            lk = np.zeros((n, E, self.n_links))
            lanes, valid = np.zeros((n, E)), np.ones(n, bool)
            epochs = np.broadcast_to(row.epochs, (n, row.epochs.shape[1])).copy() if derived \
                else row.epochs
        if footprint is not None and footprint.shape != (n, L):
            raise MappingError(f"footprint array is {footprint.shape}, the batch needs {(n, L)}")
        args = (F, kernel.cols, kernel.start, kernel.end, kernel.const, kernel.param,
                row.params, kernel.check_prod, row.checks, kernel.lanes_prod, self.unit_lanes,
                kernel.terms, kernel.word, kernel.res_word, self.capacity, self.n_tensors,
                kernel.epoch_prod, kernel.points_prod, kernel.rf_terms, kernel.route, self.phase,
                kernel.spans, rd, wr, lk, lanes, epochs, rf, valid,
                np.zeros((0, L)) if footprint is None else footprint)
        chunks = row_chunks(n)
        if chunks is None:
            _traffic(0, n, *args)
        else:
            _traffic_chunks(chunks, *args)
        return MappingBatch(s.unit, row.ops, lanes, rd, wr, lk, s.stage, s.stage_mode,
                            epochs, rf, row.rounds, row.tail), valid


#: Templates by (family, architecture topology), holding their cascade (its id is in the
#: key): a sweep maps the same workload onto many architectures that differ in capacities or
#: bandwidths, or onto new shapes whose mappings share their loop structure with another
_TEMPLATES: dict[tuple, tuple] = {}
_TEMPLATES_SIZE = 256


def _topology(arch, arrays: ArchArrays) -> tuple:
    """What a Template takes from an architecture besides capacities: names and orders, the
    tree and links, each unit's PEs, shape and operators."""
    units = tuple((u, c.shape, c.count, tuple(sorted(c.ops)), arch.parent_chain(u))
                  for u, c in sorted(arch.computes.items()))
    mems = tuple((n, mm.parent, mm.count) for n, mm in sorted(arch.memories.items()))
    links = tuple((n, k.between, k.count) for n, k in sorted(arch.links.items()))
    return (arrays.units, arrays.levels, arrays.links, arrays.ops, units, mems, links)


def structure(m: Mapping, arch) -> tuple:
    """What a Template fixes of a mapping (everything but its loop factors): two mappings with
    equal structure compile with one Template, each from its own `factors_of`."""
    return family(m, arch) + (tuple(sorted(m.shapes.items())), m.instances,
                              m.parallel_instances, repr(m.stages_or_default()),
                              tuple(em.padding for em in m.einsums))


def family(m: Mapping, arch) -> tuple:
    """What a Template fixes of a mapping given its `Rows` (everything but its loop factors,
    shapes, instances, rounds and fixed epochs): mappings of one family compile with one
    Template, each from its own `factors_of` and `rows_of`."""
    return (id(m.cascade), repr(m.fusion),
            tuple((st.einsums, st.mode, st.epochs == 0) for st in m.stages_or_default()),
            repr(sorted(m.home.items())),
            tuple((em.einsum, em.unit, repr(sorted(em.bypass.items())),
                   tuple((lv, lp.rank, lp.spatial, lp.multicast) for lv, lp in loops))
                  for em, loops in zip(m.einsums, nests(m, arch))))


#: loop nests of live mappings on their architectures, by identity: a search asks for each
#: candidate's nests for its family, its factors and its Template. An entry holds its mapping
#: and architectures weakly (mappings and architectures are immutable) and leaves with its
#: mapping, so the cache keeps nothing alive and is never larger than the mappings in use.
_NESTS: dict[int, tuple[weakref.ref, dict]] = {}


def _forget(ref: weakref.ref, key: int) -> None:
    """Drop a dead mapping's entry (not a newer one under the same id)."""
    if _NESTS.get(key, (None,))[0] is ref:
        del _NESTS[key]


def nests(m: Mapping, arch) -> tuple[tuple[tuple[int, Loop], ...], ...]:
    """Each bound Einsum's completed loop nest (mappers.plain.nest) on its unit's path,
    computed once per mapping and architecture object."""
    hit = _NESTS.get(id(m))
    if hit is None or hit[0]() is not m:
        hit = _NESTS[id(m)] = (weakref.ref(m, lambda ref, key=id(m): _forget(ref, key)), {})
    on = hit[1].get(id(arch))
    if on is None or on[0]() is not arch:
        on = hit[1][id(arch)] = (weakref.ref(arch), tuple(
            tuple(nest(m, em, arch.memory_path(em.unit))) for em in m.einsums))
    return on[1]


def _static(m: Mapping, arrays: ArchArrays, rows: Rows) -> MappingBatch:
    """The parts of a batch fixed by the structure: binding, ops, schedule (ops and epochs
    those of `rows`, the mapping's own)."""
    ems = m.einsums
    E = len(ems)
    unit = np.array([[arrays.units.index(em.unit) for em in ems]], np.int64)
    stages = m.stages_or_default()
    keys = [em.einsum for em in ems]
    stage = np.full((1, E), -1, np.int64)
    for s, st in enumerate(stages):
        for key in st.einsums:
            if key not in keys:
                raise MappingError(f"stage {s} names '{key}', which the mapping does not bind")
            stage[0, keys.index(key)] = s
    if (stage < 0).any():
        raise MappingError(f"no stage runs {', '.join(k for k, s in zip(keys, stage[0]) if s < 0)}")
    mode = np.array([[PIPELINED if st.mode == "pipelined" else SEQUENTIAL for st in stages]],
                    np.int64)
    return MappingBatch(unit, rows.ops, np.ones((1, E)), np.zeros((1, E, 1)),
                        np.zeros((1, E, 1)), np.zeros((1, E, len(arrays.links))), stage, mode,
                        rows.epochs)


def compile_mapping(m: Mapping, arch, arrays: ArchArrays) -> MappingBatch:
    """One mapping as a batch of one (raises MappingError if it does not fit)."""
    t = Template.from_mapping(m, arch, arrays)
    batch, valid = t.compile(t.factors_of(m, arch)[None])
    if not valid[0]:
        raise CapacityError("the mapping's tiles exceed a memory's capacity")
    return batch


@njit(cache=True, parallel=True)
def _traffic_chunks(bounds, F, cols, start, end, const, param, params, check_prod, checks,
                    lanes_prod, unit_lanes, terms, word, res_word, capacity, n_tensors,
                    epoch_prod, points_prod, rf_terms, route, phase, spans, rd, wr, lk, lanes,
                    epochs, rf, valid, foot_out):  # pragma: no cover
    for c in prange(bounds.shape[0] - 1):
        _traffic(bounds[c], bounds[c + 1], F, cols, start, end, const, param, params,
                 check_prod, checks, lanes_prod, unit_lanes, terms, word, res_word, capacity,
                 n_tensors, epoch_prod, points_prod, rf_terms, route, phase, spans, rd, wr, lk,
                 lanes, epochs, rf, valid, foot_out)


@njit(cache=True)
def _traffic(lo, hi, F, cols, start, end, const, param, params, check_prod, checks, lanes_prod,
             unit_lanes, terms, word, res_word, capacity, n_tensors, epoch_prod, points_prod,
             rf_terms, route, phase, spans, rd, wr, lk, lanes, epochs, rf, valid,
             foot_out):  # pragma: no cover
    """Traffic, PE use, register-file accesses and capacity checks of candidates lo..hi-1."""
    n = F.shape[0]
    K = start.shape[0]
    L = capacity.shape[0]
    P = np.empty(K)
    moved = np.zeros(terms.shape[0])  # bytes each term moves, for the routes that follow it
    foot = np.zeros((phase.max() + 1 if phase.shape[0] else 1, L, n_tensors))  # per phase
    for i in range(lo, hi):
        ip = i if params.shape[0] == n else 0  # per-candidate rows, or one shared
        ic = i if checks.shape[0] == n else 0
        for k in range(K):
            v = const[k]
            if param[k] >= 0:
                v *= params[ip, param[k]]
            for c in range(start[k], end[k]):
                v *= F[i, cols[c]]
            P[k] = v
        if epochs.shape[0] == n:  # per-candidate epochs (some stage derives them)
            for s in range(epoch_prod.shape[0]):
                if epoch_prod[s] >= 0:
                    epochs[i, s] = P[epoch_prod[s]]
        ok = True
        for c in range(check_prod.shape[0]):
            if P[check_prod[c]] != checks[ic, c]:
                ok = False
        for e in range(lanes_prod.shape[0]):
            lanes[i, e] = P[lanes_prod[e]]
            if lanes[i, e] > unit_lanes[e]:
                ok = False
        for t in range(rf_terms.shape[0]):  # register files: mappers.plain.rf_accesses
            e, pts = rf_terms[t, 0], P[points_prod[rf_terms[t, 0]]]
            arriving = 0.0 if rf_terms[t, 2] else P[rf_terms[t, 3]]
            if rf_terms[t, 1] == 0:
                rf[i, e] += pts + arriving
            else:
                distinct = P[rf_terms[t, 4]] * P[rf_terms[t, 5]]
                rf[i, e] += pts + (pts - distinct) + max(arriving - distinct, 0.0)
        foot[:, :, :] = 0.0
        for t in range(terms.shape[0]):
            e, g, child, tensor, out = terms[t, 0], terms[t, 1], terms[t, 2], terms[t, 3], terms[t, 4]
            if terms[t, 7] >= 0:
                b = P[terms[t, 7]] * res_word[t]
                ph = phase[e]
                if b > foot[ph, g, tensor]:
                    foot[ph, g, tensor] = b
            if terms[t, 9] == 0:
                continue
            vol = P[terms[t, 5]] * P[terms[t, 6]] * word[t]
            moved[t] = vol
            if out == 0:
                rd[i, e, g] += vol
                if child >= 0:
                    wr[i, e, child] += vol
            else:
                wr[i, e, g] += vol
                if child >= 0:
                    rd[i, e, child] += vol
                psum = vol - P[terms[t, 8]] * word[t]
                if psum > 0.0:
                    rd[i, e, g] += psum
                    if child >= 0:
                        wr[i, e, child] += psum
        for r in range(route.shape[0]):
            t, x, kind = route[r, 0], route[r, 1], route[r, 2]
            e = terms[t, 0]
            if kind == 0:
                rd[i, e, x] += moved[t]
            elif kind == 1:
                wr[i, e, x] += moved[t]
            else:
                lk[i, e, x] += moved[t]
        for s in range(spans.shape[0]):  # kept at a level: there from its first phase to its last
            g, t, first, last = spans[s, 0], spans[s, 1], spans[s, 2], spans[s, 3]
            most = 0.0
            for ph in range(first, last + 1):
                most = max(most, foot[ph, g, t])
            for ph in range(first, last + 1):
                foot[ph, g, t] = most
        for g in range(L):
            total = 0.0  # the most of any phase
            for ph in range(foot.shape[0]):
                held = 0.0
                for t in range(n_tensors):
                    held += foot[ph, g, t]
                total = max(total, held)
            if foot_out.shape[0] == n:  # the caller asked for footprints
                foot_out[i, g] = total
            if total > capacity[g]:
                ok = False
        valid[i] = ok
