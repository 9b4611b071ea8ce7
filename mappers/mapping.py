"""The mapping IR shared by every substrate: binding, loop nests, fusion and schedule.

A mapping places a cascade (at concrete shapes) on an architecture:
- each working Einsum is bound to a compute unit;
- its loop nest is given per memory level on the path from the root memory to that unit: the
  loops listed at level X iterate over the tiles that X hands to the level below (or to the
  unit's PEs); a loop is temporal or spatial (spread over PEs or instances); factors of one
  rank multiply to its shape, and whatever a nest leaves out runs innermost at the last level;
- a fusion group keeps intermediates at a memory level, so they never travel above it, or in
  the PEs ("pes": registers and links between arrays), so they never reach a memory at all;
- the schedule groups Einsums into stages that run one after another, each sequential or
  pipelined across units in epochs (see archsim.estimator); stages a fusion group joins
  interleave under its loops, the others are separate phases whose tiles never co-reside
  (`Mapping.phases`);
- a tensor may have a home memory (`home`) off a unit's path, in another tree (host DRAM, a
  drive's flash): it enters the path at the nearest path memory and travels the route there
  (memories and links, e.g. PCIe) every time that memory delivers it (see `route`).
Re-indexing copies (rank splits like BK[e,m1,m0] = K[e,m1*M0+m0]) and initial values do no work
and are not bound: reads of a split copy are reads of the tensor it views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from einsum_cascades import Cascade, CascadeError
from einsum_cascades.ir import Einsum, Ref


class MappingError(CascadeError):
    """A mapping that does not fit its cascade or architecture."""


class CapacityError(MappingError):
    """A mapping whose tiles exceed a memory's capacity (a study may report it as out of
    memory rather than fail)."""


@dataclass(frozen=True)
class Loop:
    """One loop: a rank, how many iterations, and whether they run in parallel."""

    rank: str
    factor: int
    spatial: bool = False
    #: a spatial loop that does not index an operand multicasts it (one fetch serves every
    #: instance below); `multicast=False` says each instance fetches its own copy (GPU SMs each
    #: read L2: no multicast network); outputs are unaffected
    multicast: bool = True


@dataclass(frozen=True)
class Level:
    """The loops run at a memory level, outermost first."""

    memory: str
    loops: tuple[Loop, ...] = ()


@dataclass(frozen=True)
class EinsumMapping:
    """Binding and loop nest of one Einsum (by its key, e.g. `QK` or `RM[m1+1]`); `bypass`
    names, per tensor, memory levels it streams past without being stored there."""

    einsum: str
    unit: str
    levels: tuple[Level, ...]
    bypass: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: work the unit computes per op of the Einsum's count: a GPU tile's padded rows (computed,
    #: their loads and stores predicated off) scale its ops, so its PE time and the energy of
    #: its ops, not its traffic, register-file accesses or footprint
    padding: float = 1.0

    def __post_init__(self) -> None:
        """Padding is work per counted op: at least the op itself."""
        if not self.padding >= 1:  # NaN fails too
            raise MappingError(f"'{self.einsum}': padding must be >= 1 (work per counted op), "
                               f"got {self.padding}")

    def bypassed(self, tensor: str, path: tuple[str, ...]) -> set[int]:
        """Path depths a tensor streams past (never the root, which holds everything)."""
        out = set()
        for level in self.bypass.get(tensor, ()):
            if level not in path[1:]:
                raise MappingError(f"'{self.einsum}' bypasses '{level}' for '{tensor}', which is "
                                   f"not a memory below the root on {' -> '.join(path)}")
            out.add(path.index(level))
        return out


@dataclass(frozen=True)
class FusionGroup:
    """Einsums fused under shared loops; `keep` holds intermediates at a memory level, or in the
    PEs (`IN_PES`)."""

    einsums: tuple[str, ...]
    keep: dict[str, str] = field(default_factory=dict)
    #: operands fetched once for the whole group and staged at a memory level: the first of the
    #: group's Einsums to read one brings it in, the others read it there (a softmax loads a
    #: row of scores once for its max and its exponentials)
    stage_in: dict[str, str] = field(default_factory=dict)
    #: tensor -> Einsums of the group that take it straight from its producer's PEs (the
    #: producer's results stream into them as they are made), while other readers read it
    #: where it is kept (FLAT's row sum adds the exponentials as they leave the exp units)
    forward: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: tensor -> (memory, share): the share of the tensor's tile at that memory that does not
    #: fit there and lives in the memory above it instead; that share of its accesses at the
    #: memory is served from the one above (as if bypassed), and only the rest is filled in
    #: (FLAT's spill of a score block larger than its buffer)
    spill: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: tensor -> an earlier tensor whose space it overwrites in place (a softmax writes its
    #: exponentials over the scores): the two share one footprint, the larger of their tiles
    in_place: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """Einsums that run together: one after another, or pipelined across units in epochs.

    `epochs` = 0 derives them from the nest: one epoch per iteration of the temporal loops on
    the ranks every Einsum of the stage shares (FuseMax: one per P tile and M1 step).
    """

    einsums: tuple[str, ...]
    mode: Literal["sequential", "pipelined"] = "sequential"
    epochs: int = 1
    #: instances that run this stage at once (0: the mapping's `parallel_instances`); stages
    #: launched as separate GPU kernels each fill the SMs with their own CTA grid
    parallel_instances: float = 0


def divisors(n: int) -> list[int]:
    """The divisors of n, smallest first (a loop's factors divide its rank), found up to its
    square root: a 1G-token rank is instant."""
    small = [t for t in range(1, math.isqrt(n) + 1) if n % t == 0]
    return sorted(set(small + [n // t for t in small]))


def epoch_ranks(c: Cascade, stage: Stage) -> set[str]:
    """Ranks every Einsum of a stage iterates: their temporal loops count its epochs."""
    spaces = [set(e.space) for e in c.einsums if e.key in stage.einsums]
    return set.intersection(*spaces) if spaces else set()


@dataclass(frozen=True)
class Mapping:
    """A cascade at concrete shapes placed on an architecture."""

    cascade: Cascade
    shapes: dict[str, int]
    einsums: tuple[EinsumMapping, ...]
    fusion: tuple[FusionGroup, ...] = ()
    stages: tuple[Stage, ...] = ()
    #: independent instances of the cascade (batch x heads) run one after another, as an
    #: outermost loop every tensor depends on: work, traffic and epochs scale by it
    instances: int = 1
    #: tensor (by source name) -> the memory it lives in; by default the root of the path of
    #: each unit that touches it
    home: dict[str, str] = field(default_factory=dict)
    #: how many instances run at once, each on its own instances of the units (a GPU's CTAs on
    #: separate SMs): they run in `rounds` = ceil(instances / parallel_instances) rounds, the
    #: last one partly idle when they do not divide evenly (the tail of the last wave); a
    #: fraction < 1 spreads one instance over several rounds (a head with more CTAs than SMs);
    #: traffic and work are unchanged, PEs in use scale by instances / rounds, epochs count rounds
    parallel_instances: float = 1

    @property
    def rounds(self) -> int:
        """Rounds of `parallel_instances` instances at once (the last one may be partial)."""
        return _rounds(self.instances, self.parallel_instances)

    def stage_rounds(self, stage: Stage) -> int:
        """Rounds of a stage: its own parallel instances, or the mapping's."""
        if not stage.parallel_instances:
            return self.rounds
        return _rounds(self.instances, stage.parallel_instances)

    def einsum_rounds(self, einsum: str) -> int:
        """Rounds of the stage that runs an Einsum."""
        return next((self.stage_rounds(st) for st in self.stages_or_default()
                     if einsum in st.einsums), self.rounds)

    def einsum_tail(self, einsum: str) -> float:
        """The last round's instances over a full round's for the stage that runs an Einsum
        (1 where the rounds divide evenly): a unit's `attainable` cap binds round by round."""
        stage = next((st for st in self.stages_or_default() if einsum in st.einsums), None)
        par = stage.parallel_instances if stage and stage.parallel_instances else \
            self.parallel_instances
        return min(1.0, max(self.instances / par - (self.einsum_rounds(einsum) - 1), 1e-12))

    def stages_or_default(self) -> tuple[Stage, ...]:
        """The schedule; by default each bound Einsum is its own sequential stage."""
        return self.stages or tuple(Stage((m.einsum,)) for m in self.einsums)

    def phases(self) -> dict[str, int]:
        """Einsum -> the phase it runs in, numbered in schedule order: what shares on-chip
        memory. The Einsums of a fusion group share its loops, so every stage from the first to
        the last that runs one of them interleaves under those loops: one phase (FuseMax's
        phases of an epoch), whose tiles co-reside. Stages no group joins are phases of their
        own, each under its own loop nests one after another (a GPU's separate kernels): their
        tiles never share a memory, and only what a fusion group keeps at a memory stays there
        from one phase to a later one (mappers.plain.resident_bytes)."""
        stages = self.stages_or_default()
        at = {k: s for s, st in enumerate(stages) for k in st.einsums}
        joined = [False] * len(stages)  # stage s runs in the phase of stage s - 1
        for g in self.fusion:
            runs = [at[k] for k in g.einsums if k in at]
            for s in range(min(runs, default=0) + 1, max(runs, default=0) + 1):
                joined[s] = True
        out, phase = {}, -1
        for s, st in enumerate(stages):
            phase += not joined[s]
            out.update(dict.fromkeys(st.einsums, phase))
        return out

    def kept(self, einsum: str | None = None) -> dict[str, str]:
        """Tensor -> where it stays (memory level or IN_PES); for an Einsum, also the operands a
        fusion group staged before it read them."""
        out: dict[str, str] = {}
        for g in self.fusion:
            out.update(g.keep)
        if einsum is None:
            return out
        inputs = {e.key: {source_tensor(self.cascade, t) for t in e.inputs}
                  for e in self.cascade.einsums}
        for g in self.fusion:
            for tensor, level in g.stage_in.items():
                readers = [k for k in g.einsums if tensor in inputs.get(k, ())]
                if einsum in readers[1:]:
                    out[tensor] = level
            for tensor, readers in g.forward.items():
                if einsum in readers:
                    out[tensor] = IN_PES
        return out

    def space_of(self, tensor: str) -> str:
        """The tensor whose memory space `tensor` occupies (itself unless written in place)."""
        seen = {tensor}
        for g in self.fusion:
            while tensor in g.in_place:
                tensor = g.in_place[tensor]
                if tensor not in self.cascade.tensors:
                    raise MappingError(f"'{tensor}' (an in-place host) is not a tensor of "
                                       f"'{self.cascade.name}'")
                if tensor in seen:
                    raise MappingError(f"in-place chain of '{tensor}' is a cycle")
                seen.add(tensor)
        return tensor

    def spill_depth(self, tensor: str, path: tuple[str, ...]) -> tuple[int, float]:
        """(path depth, share) of a tensor's spill on `path`; (-1, 0) when it does not spill
        there."""
        for g in self.fusion:
            if tensor in g.spill:
                level, share = g.spill[tensor]
                if not 0.0 <= share <= 1.0:
                    raise MappingError(f"spill share of '{tensor}' must be in [0, 1], got {share}")
                if level not in path[1:]:
                    raise MappingError(f"'{tensor}' spills from '{level}', which is not a memory "
                                       f"below the root on {' -> '.join(path)}")
                return (path.index(level), share) if share > 0.0 else (-1, 0.0)
        return -1, 0.0


def _rounds(instances: int, parallel: float) -> int:
    """ceil(instances / parallel), exact for whole-number ratios."""
    if instances < 1 or not parallel > 0:
        raise MappingError(f"instances ({instances}) must be at least 1 and parallel instances "
                           f"({parallel}) positive")
    return max(1, math.ceil(instances / parallel - 1e-9))


#: `keep` value for intermediates that stay in the PEs: their registers and the links between
#: arrays (FuseMax's 1D array takes the 2D array's column results directly)
IN_PES = "pes"


def keep_depth(kept: dict[str, str], tensor: str, path: tuple[str, ...]) -> int:
    """Path depth from which a tensor travels: 0 (anywhere), its keep level's depth, or
    len(path) when it stays in the PEs (no memory traffic, no memory footprint)."""
    where = kept.get(tensor)
    if where is None:
        return 0
    if where == IN_PES:
        return len(path)
    if where in path:
        return path.index(where)
    raise MappingError(f"'{tensor}' is kept in '{where}', which is neither '{IN_PES}' nor a "
                       f"memory on the path {' -> '.join(path)}")


@dataclass(frozen=True)
class Route:
    """How a tensor homed off a unit's path reaches it: the path depth where it enters, the
    memories it passes from its home to there (home first, entry last) and the links crossed."""

    entry: int
    memories: tuple[str, ...]
    links: tuple[str, ...]


def route(arch, home: str, path: tuple[str, ...]) -> Route:
    """The shortest way (fewest hops over parent edges and links) from memory `home` to a
    memory on `path`; Route(0, (), ()) when `home` is the path's root (nothing to add)."""
    if home not in arch.memories:
        raise MappingError(f"home '{home}' is not a memory of '{arch.name}' (memories: "
                           f"{', '.join(arch.memories)})")
    edges: dict[str, list[tuple[str, str | None]]] = {m: [] for m in arch.memories}
    for name, mem in arch.memories.items():
        if mem.parent is not None:
            edges[name].append((mem.parent, None))
            edges[mem.parent].append((name, None))
    for name, link in arch.links.items():
        a, b = link.between
        edges[a].append((b, name))
        edges[b].append((a, name))
    came: dict[str, tuple[str, str | None] | None] = {home: None}
    frontier = [home]
    while frontier and not any(m in path for m in frontier):
        nxt = []
        for m in frontier:
            for other, link in sorted(edges[m], key=lambda x: x[0]):
                if other not in came:
                    came[other] = (m, link)
                    nxt.append(other)
        frontier = nxt
    reached = [m for m in frontier if m in path]
    if not reached:
        raise MappingError(f"no memory or link joins home '{home}' to the path "
                           f"{' -> '.join(path)}")
    at = min(reached, key=path.index)
    if at == path[0] and at == home:
        return Route(0, (), ())
    memories, links = [at], []
    while came[memories[-1]] is not None:
        prev, link = came[memories[-1]]  # type: ignore[misc]
        memories.append(prev)
        if link is not None:
            links.append(link)
    return Route(path.index(at), tuple(reversed(memories)), tuple(reversed(links)))


def is_view(e: Einsum) -> bool:
    """A pure re-indexing copy (a rank split): no work, the consumer reads the source."""
    return e.kind == "compute" and isinstance(e.expr, Ref) and not e.reduced


def working_einsums(c: Cascade) -> tuple[Einsum, ...]:
    """Einsums that do work and must be bound (not views, not initial values); kept with the
    cascade's derived answers, for the Einsums they were derived from (mappers ask for each
    Einsum of each mapping)."""
    hit = c._memo.get("working_einsums")
    if hit is None or hit[0] is not c.einsums:
        hit = c._memo["working_einsums"] = (
            c.einsums, tuple(e for e in c.einsums if e.kind != "init" and not is_view(e)))
    return hit[1]


def source_tensor(c: Cascade, tensor: str) -> str:
    """The tensor a view reads through to (K for BK[e,m1,m0] = K[e,m1*M0+m0])."""
    for e in c.producers(tensor):
        if is_view(e):
            return source_tensor(c, e.expr.tensor)  # type: ignore[union-attr]
    return tensor
