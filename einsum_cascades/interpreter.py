"""Reference interpreter: runs any cascade with numpy on concrete shapes, counting operations.

Tensors carry a validity mask (fibertree "present" elements). A split rank's ragged last chunk
is absent; a sparsity-pattern input is absent where False. Operators merge like extended
Einsums: `+` and `max` take the union of their operands (an absent operand is the identity),
`*`, `/`, `-` and `exp` the intersection. Reductions skip absent elements. One convention keeps
empty running maxima finite: `-inf - -inf` is `-inf` (so exp of it is 0), as FlashAttention
kernels special-case a row that has seen no key yet.

An operator is counted once per point of the Einsum's iteration space where all its operands are
present; a reduction of n present values costs n - 1 operations (sum as "+", max as "max").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .errors import CascadeError
from .ir import (Binary, Cascade, Const, ConstIdx, Einsum, Expr, FinalIdx, RankIdx, Ref, SplitIdx,
                 Unary)


@dataclass
class Value:
    """A (partial) tensor: data, presence mask, and the rank labelling each axis."""

    data: np.ndarray
    valid: np.ndarray
    ranks: tuple[str, ...]


@dataclass
class RunResult:
    """Every tensor's data (NaN where absent) and presence mask, and the operations counted."""

    tensors: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    op_counts: dict[str, int]
    einsum_op_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def output(self, cascade: Cascade) -> np.ndarray:
        """The data of the cascade's single output."""
        (name,) = cascade.outputs
        return self.tensors[name]


def tensor_shape(cascade: Cascade, tensor: str, shapes: dict[str, int]) -> tuple[int, ...]:
    """Concrete extents of a tensor's axes (an iterative axis holds shape + 1 iterates)."""
    t = cascade.tensors[tensor]
    return tuple(shapes[r] + (1 if r == t.iterative else 0) for r in t.ranks)


def run(cascade: Cascade, inputs: dict[str, np.ndarray], shapes: dict[str, int]) -> RunResult:
    """Execute `cascade` on `inputs` (arrays in each tensor's rank order) with rank `shapes`."""
    shapes = cascade.resolve_shapes(shapes)
    env: dict[str, Value] = {}
    for name in cascade.inputs:
        if name not in inputs:
            raise CascadeError(f"no value given for input '{name}'")
        want = tensor_shape(cascade, name, shapes)
        arr = np.asarray(inputs[name])
        if arr.shape != want:
            raise CascadeError(f"input '{name}' has shape {arr.shape}, expected {want} for ranks "
                               f"{','.join(cascade.tensors[name].ranks)}")
        if cascade.tensors[name].pattern:
            valid = arr.astype(bool)
            env[name] = Value(np.where(valid, 1.0, 0.0), valid, cascade.tensors[name].ranks)
        else:
            env[name] = Value(arr.astype(np.float64), np.ones(arr.shape, bool),
                              cascade.tensors[name].ranks)
    ctx = _Context(cascade, shapes, env)
    with np.errstate(all="ignore"):
        for step in cascade.plan:
            if step.rank is None:
                ctx.einsum(step.einsums[0])
            else:
                ctx.loop(step.rank, step.einsums)
    tensors = {n: np.where(v.valid, v.data, np.nan) for n, v in env.items()}
    total: Counter[str] = Counter()
    for c in ctx.counts.values():
        total.update(c)
    return RunResult(tensors, {n: v.valid for n, v in env.items()},
                     {k: int(v) for k, v in total.items() if v},
                     {k: {o: int(n) for o, n in c.items() if n} for k, c in ctx.counts.items()})


class _Context:
    """State of one run: tensor values, concrete shapes, op counters per Einsum."""

    def __init__(self, cascade: Cascade, shapes: dict[str, int], env: dict[str, Value]) -> None:
        self.c = cascade
        self.shapes = shapes
        self.env = env
        self.counts: dict[str, Counter[str]] = {}

    # -- statements
    def einsum(self, e: Einsum) -> None:
        out = self.evaluate(e, {})
        t = self.c.tensors[e.output]
        if e.kind == "init":
            self._allocate(e.output)
            k = next(k for k, i in enumerate(e.out_indices) if isinstance(i, ConstIdx))
            self._write(e.output, {t.ranks[k]: 0}, out)
        else:
            self.env[e.output] = Value(out.data, out.valid, t.ranks)

    def loop(self, rank: str, body: tuple[Einsum, ...]) -> None:
        for e in body:
            if e.kind != "update":
                self._allocate(e.output)
        for step in range(self.shapes[rank]):
            for e in body:
                out = self.evaluate(e, {rank: step})
                self._write(e.output, {rank: step + (1 if e.kind == "update" else 0)}, out)

    def _allocate(self, name: str) -> None:
        shape = tensor_shape(self.c, name, self.shapes)
        self.env[name] = Value(np.zeros(shape), np.zeros(shape, bool), self.c.tensors[name].ranks)

    def _write(self, name: str, at: dict[str, int], v: Value) -> None:
        dst = self.env[name]
        idx = tuple(at.get(r, slice(None)) for r in dst.ranks)
        rest = tuple(r for r in dst.ranks if r not in at)
        dst.data[idx] = _align(v.data, v.ranks, rest)
        dst.valid[idx] = _align(v.valid, v.ranks, rest)

    # -- one Einsum at fixed positions of some ranks
    def evaluate(self, e: Einsum, fixed: dict[str, int]) -> Value:
        """Value of `e`'s output with ranks in `fixed` held at a position; counts its ops."""
        counts = self.counts.setdefault(e.key, Counter())
        space = tuple(r for r in e.space if r not in fixed)
        val = self._expr(e.expr, fixed, space, counts)
        out_ranks = tuple(r for r in e.out_ranks if r not in fixed)
        red = tuple(r for r in val.ranks if r not in out_ranks)
        if red:
            axes = tuple(val.ranks.index(r) for r in red)
            if e.reduce == "max":
                data = np.where(val.valid, val.data, -np.inf).max(axis=axes)
            else:
                data = np.where(val.valid, val.data, 0.0).sum(axis=axes)
            valid = val.valid.any(axis=axes)
            kept = tuple(r for r in val.ranks if r not in red)
            op = "max" if e.reduce == "max" else "+"
            n_points = self._points(val.valid, val.ranks, space, fixed)
            n_out = self._points(valid, kept, out_ranks, fixed)
            counts[op] += n_points - n_out
            val = Value(data, valid, kept)
        shape = tuple(self.shapes[r] for r in out_ranks)
        data = np.broadcast_to(_align(val.data, val.ranks, out_ranks), shape).copy()
        valid = np.broadcast_to(_align(val.valid, val.ranks, out_ranks), shape).copy()
        valid &= self._split_mask(out_ranks, fixed)
        return Value(data, valid, out_ranks)

    def _expr(self, node: Expr, fixed: dict[str, int], space: tuple[str, ...],
              counts: Counter[str]) -> Value:
        if isinstance(node, Const):
            return Value(np.array(node.value), np.array(True), ())
        if isinstance(node, Ref):
            return self._read(node, fixed)
        if isinstance(node, Unary):
            a = self._expr(node.arg, fixed, space, counts)
            data = np.exp(a.data) if node.op == "exp" else -a.data
            counts[node.op] += self._points(a.valid, a.ranks, space, fixed)
            return Value(data, a.valid, a.ranks)
        assert isinstance(node, Binary)
        a = self._expr(node.lhs, fixed, space, counts)
        b = self._expr(node.rhs, fixed, space, counts)
        ranks = a.ranks + tuple(r for r in b.ranks if r not in a.ranks)
        ad, av = _align(a.data, a.ranks, ranks), _align(a.valid, a.ranks, ranks)
        bd, bv = _align(b.data, b.ranks, ranks), _align(b.valid, b.ranks, ranks)
        both = av & bv
        if node.op == "+":
            data, valid = np.where(av, ad, 0.0) + np.where(bv, bd, 0.0), av | bv
        elif node.op == "max":
            data, valid = np.maximum(np.where(av, ad, -np.inf), np.where(bv, bd, -np.inf)), av | bv
        elif node.op == "-":
            data = np.where(np.isneginf(ad) & np.isneginf(bd), -np.inf, ad - bd)
            valid = both
        elif node.op == "*":
            data, valid = ad * bd, both
        else:
            data, valid = ad / bd, both
        counts[node.op] += self._points(both, ranks, space, fixed)
        data = np.broadcast_to(data, np.broadcast_shapes(data.shape, valid.shape))
        return Value(data, np.broadcast_to(valid, data.shape), ranks)

    def _read(self, ref: Ref, fixed: dict[str, int]) -> Value:
        """Gather a tensor read: iterates, fixed/final positions and splits become axes."""
        src = self.env[ref.tensor]
        t = self.c.tensors[ref.tensor]
        data, valid = src.data, src.valid
        ranks: list[str] = []
        k = 0  # current axis in the partially indexed arrays
        for axis_rank, idx in zip(t.ranks, ref.indices):
            if isinstance(idx, RankIdx):
                n = self.shapes[idx.rank]
                if idx.rank in fixed:
                    data, valid = data.take(fixed[idx.rank] + idx.offset, k), valid.take(
                        fixed[idx.rank] + idx.offset, k)
                    continue
                sel = np.arange(idx.offset, idx.offset + n)
                data, valid = data.take(sel, k), valid.take(sel, k)
                ranks.append(idx.rank)
                k += 1
            elif isinstance(idx, (ConstIdx, FinalIdx)):
                pos = idx.value if isinstance(idx, ConstIdx) else self.shapes[idx.rank]
                if pos >= data.shape[k]:  # an iterate past the last: positions 0..N
                    raise CascadeError(f"{ref} reads position {pos} of rank '{axis_rank}', which "
                                       f"has positions 0..{data.shape[k] - 1} at these shapes",
                                       ref.pos)
                data, valid = data.take(pos, k), valid.take(pos, k)
            else:
                assert isinstance(idx, SplitIdx)
                inner = self.shapes[idx.inner]
                outer = np.array([fixed[idx.outer]]) if idx.outer in fixed else np.arange(
                    self.shapes[idx.outer])
                pos = outer[:, None] * inner + np.arange(inner)[None, :]
                extent = data.shape[k]
                present = pos < extent
                clipped = np.minimum(pos, extent - 1)
                data, valid = data.take(clipped, k), valid.take(clipped, k)
                shape = [1] * valid.ndim
                shape[k:k + 2] = present.shape
                valid = valid & present.reshape(shape)
                if idx.outer in fixed:
                    data, valid = data.take(0, k), valid.take(0, k)
                    ranks.append(idx.inner)
                    k += 1
                else:
                    ranks.extend([idx.outer, idx.inner])
                    k += 2
        return Value(data, valid, tuple(ranks))

    # -- counting
    def _split_mask(self, ranks: tuple[str, ...], fixed: dict[str, int]) -> np.ndarray:
        """Presence of the points of `ranks` allowed by split constraints (ragged chunks)."""
        mask = np.ones(tuple(self.shapes[r] for r in ranks), bool)
        for parent, outer, inner in self._splits():
            if inner not in ranks or (outer not in ranks and outer not in fixed):
                continue
            o = np.array([fixed[outer]]) if outer in fixed else np.arange(self.shapes[outer])
            present = (o[:, None] * self.shapes[inner] + np.arange(self.shapes[inner])[None, :]
                       < self.shapes[parent])
            if outer in fixed:
                mask &= _align(present[0], (inner,), ranks)
            else:
                mask &= _align(present, (outer, inner), ranks)
        return mask

    def _splits(self) -> list[tuple[str, str, str]]:
        out = []
        for r in self.c.ranks:
            s = self.c.split(r)
            if s:
                out.append((r, *s))
        return out

    def _points(self, valid: np.ndarray, ranks: tuple[str, ...], space: tuple[str, ...],
                fixed: dict[str, int]) -> int:
        """Points of the iteration space `space` where `valid` (over `ranks`) holds."""
        full = np.broadcast_to(valid, tuple(self.shapes[r] for r in ranks))
        return int(np.count_nonzero(_align(full, ranks, space) & self._split_mask(space, fixed)))


def _align(arr: np.ndarray, ranks: tuple[str, ...], order: tuple[str, ...]) -> np.ndarray:
    """View of `arr` (axes labelled `ranks`) with axes in `order`, size 1 for missing ranks."""
    arr = np.asarray(arr)
    missing = [r for r in ranks if r not in order]
    if missing:
        raise CascadeError(f"internal: ranks {missing} not in {order}")
    if arr.ndim == 0:
        return arr.reshape((1,) * len(order))
    perm = [ranks.index(r) for r in order if r in ranks]
    arr = arr.transpose(perm)
    shape = []
    it = iter(arr.shape)
    for r in order:
        shape.append(next(it) if r in ranks else 1)
    return arr.reshape(shape)
