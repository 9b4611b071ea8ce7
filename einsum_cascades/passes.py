"""Pass analysis (FuseMax, Sec. III), derived from the cascade's dependency DAG.

A pass over a fiber of rank r traverses every element of it. An Einsum that iterates r and reads
a value that needed a full traversal of r (a reduction over r, or a final iterate) cannot run
until that traversal ends, so it belongs to a later pass. The level of every Einsum along r is

    level(E) = max( level(S)      for operands S indexed by r (element-wise or previous iterate),
                    avail(S) + 1  for operands S not indexed by r that depend on a traversal of r,
                    1 )

and an output that drops r is available after pass level(E). A split rank r -> (r1, r0) is
traversed r1-major: passes over r are passes over r1, while a full reduction over r0 inside a
tile only costs a pass over that tile (reported under `split_passes`). Nothing is labelled by
name: any cascade gets the same analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy

from .ir import Cascade, ConstIdx, Einsum, FinalIdx, RankIdx, Ref, refs


@dataclass(frozen=True)
class PassReport:
    """Pass counts per rank and per input tensor, the class, and 1-pass live footprints."""

    cascade: str
    max_passes: int
    passes: dict[str, int]
    tensor_passes: dict[str, dict[str, int]]
    split_passes: dict[str, int]
    einsum_levels: dict[str, dict[str, int]]
    footprint: dict[str, sympy.Expr] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cascade": self.cascade,
            "max_passes": self.max_passes,
            "passes": self.passes,
            "tensor_passes": self.tensor_passes,
            "split_passes": self.split_passes,
            "einsum_levels": self.einsum_levels,
            "footprint": {r: str(f) for r, f in self.footprint.items()},
        }


class _RankLevels:
    """Levels of every Einsum and tensor along one rank name (with its ancestors' meaning)."""

    def __init__(self, c: Cascade, rank: str) -> None:
        self.c = c
        self.rank = rank
        self.family = {rank, *c.ancestors(rank)}
        self.sibling_iter = self._iterative_sibling()
        self.level: dict[str, int] = {}   # tensors indexed by the rank
        self.avail: dict[str, int] = {}   # tensors not indexed by it: passes they wait for
        self.einsum: dict[int, int] = {}  # id(einsum) -> level, for Einsums iterating the rank
        self._solve()

    def has(self, tensor: str) -> bool:
        return bool(self.family & set(self.c.tensors[tensor].ranks))

    def iterates(self, e: Einsum) -> bool:
        return bool(self.family & set(e.space))

    def _iterative_sibling(self) -> str | None:
        """For the inner part r0 of a split whose outer part r1 is iterative: r1."""
        r = self.c.ranks[self.rank]
        if r.part != "inner":
            return None
        outer = self.c.split(r.parent)[0]  # type: ignore[index]
        return outer if self.c.ranks[outer].iterative else None

    def _read_level(self, ref: Ref, e_iterates: bool) -> int:
        """What a read contributes to the level of the Einsum that makes it."""
        t = self.c.tensors[ref.tensor]
        if not self.has(ref.tensor):
            a = self.avail.get(ref.tensor, 0)
            return a + 1 if (e_iterates and a) else a
        axis = next(k for k, r in enumerate(t.ranks) if r in self.family)
        idx = ref.indices[axis]
        if isinstance(idx, ConstIdx):
            return 0  # the initial value waits for nothing
        if isinstance(idx, FinalIdx):  # needs the whole traversal
            lv = self.level.get(ref.tensor, 0)
            return lv + 1 if e_iterates else lv
        if (self.sibling_iter and isinstance(idx, RankIdx) and idx.offset == 0
                and t.iterative == self.sibling_iter):
            return 0  # previous iterate: finished before this tile began
        return self.level.get(ref.tensor, 0)

    def _solve(self) -> None:
        # reads of previous iterates close loops; iterate to the least fixed point
        for _ in range(len(self.c.einsums) + 2):
            changed = False
            for step in self.c.plan:
                for e in step.einsums:
                    changed |= self._visit(e)
            for e in self.c.einsums:
                if e.kind == "init":
                    changed |= self._visit(e)
            if not changed:
                return

    def _visit(self, e: Einsum) -> bool:
        it = self.iterates(e)
        lv = max([self._read_level(r, it) for r in refs(e.expr)] + [1 if it else 0])
        if e.kind == "init":
            return False  # a constant starting value waits for nothing
        before = (self.level.get(e.output), self.avail.get(e.output), self.einsum.get(id(e)))
        if it:
            self.einsum[id(e)] = lv
        if self.has(e.output):
            self.level[e.output] = max(self.level.get(e.output, 0), lv)
        else:
            self.avail[e.output] = max(self.avail.get(e.output, 0), lv)
        return before != (self.level.get(e.output), self.avail.get(e.output), self.einsum.get(id(e)))

    def passes(self) -> int:
        return max(self.einsum.values(), default=0)


def analyse(c: Cascade) -> PassReport:
    """Pass counts for every rank of the cascade's inputs, per input tensor, and footprints."""
    levels = {r: _RankLevels(c, r) for r in c.ranks}

    def rank_passes(r: str) -> int:
        own = levels[r].passes()
        split = c.split(r)
        return max(own, rank_passes(split[0])) if split else own

    roots = list(dict.fromkeys(c.root(r) for t in c.inputs for r in c.tensors[t].ranks))
    passes = {r: rank_passes(r) for r in roots}
    split_passes = {r: levels[r].passes() for r in c.ranks if c.ranks[r].parent}
    tensor_passes = {t: {c.root(r): _tensor_passes(c, levels, t, c.root(r))
                         for r in c.tensors[t].ranks} for t in c.inputs}
    einsum_levels = {}
    for e in c.einsums:
        if e.kind == "init":
            continue
        row = {r: lv.einsum[id(e)] for r, lv in levels.items() if id(e) in lv.einsum}
        einsum_levels[e.key] = row
    reduced = {c.root(r) for e in c.einsums for r in e.reduced}
    footprint = {r: _footprint(c, levels, r) for r in roots if r in reduced}
    return PassReport(c.name, max(passes.values(), default=1), passes, tensor_passes,
                      split_passes, einsum_levels, footprint)


def _traversal_rank(c: Cascade, root: str) -> str:
    """The rank whose order a traversal of `root` follows: its outermost split part."""
    r = root
    while (s := c.split(r)) is not None:
        r = s[0]
    return r


def _tensor_passes(c: Cascade, levels: dict[str, _RankLevels], tensor: str, root: str) -> int:
    """Passes over `tensor`'s fibers of `root`: the span of levels of the Einsums that read it or
    values computed from it element-wise along `root` (buffered or recomputed, still a pass)."""
    lv = levels[_traversal_rank(c, root)]
    family = {root} | {r for r in c.ranks if root in c.ancestors(r)}
    seen, frontier, used = {tensor}, [tensor], []
    while frontier:
        t = frontier.pop()
        for e in c.readers(t):
            if id(e) in lv.einsum:
                used.append(lv.einsum[id(e)])
            if family & set(c.tensors[e.output].ranks) and e.output not in seen:
                seen.add(e.output)
                frontier.append(e.output)
    return max(used) - min(used) + 1 if used else 0


def _spans_levels(lv: _RankLevels, readers: tuple[Einsum, ...]) -> bool:
    """Whether a fiber is read in two or more passes (so it is kept; recomputation not counted)."""
    return len({lv.einsum[id(e)] for e in readers if id(e) in lv.einsum}) > 1


def _footprint(c: Cascade, levels: dict[str, _RankLevels], root: str) -> sympy.Expr:
    """Elements that must stay live while `root` is traversed once (outer split part outermost):
    operands reused at every position, accumulators and current iterates, fibers read in more than
    one pass, and for a split rank one tile of each tile fiber read in more than one pass."""
    outer = _traversal_rank(c, root)
    lv = levels[outer]
    total = sympy.Integer(0)
    for name, t in c.tensors.items():
        readers = [e for e in c.readers(name) if lv.iterates(e)]
        producers = [e for e in c.producers(name) if lv.iterates(e)]
        if t.iterative and t.iterative in lv.family:
            total += c.size(name) / c.extent(name, t.ranks.index(t.iterative))
        elif lv.has(name):
            if _spans_levels(lv, c.readers(name)):
                total += c.size(name)
        elif readers or producers:
            total += c.size(name)
    split = c.split(root)
    if split:
        o, i = split
        inner = levels[i]
        for name, t in c.tensors.items():
            if not (o in t.ranks and i in t.ranks):
                continue
            if _spans_levels(inner, c.readers(name)):
                total += c.size(name) / c.extent(name, t.ranks.index(o))
    return sympy.factor(sympy.expand(total))
