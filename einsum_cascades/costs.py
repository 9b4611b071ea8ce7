"""Symbolic costs (sympy): operation counts per operator and tensor sizes as formulas of shapes.

The counts follow the interpreter's rules exactly (see interpreter.py): each map operator once per
point of the Einsum's iteration space, a reduction of n values n - 1 times. A split pair
(m1, m0) in one space ranges over the M valid positions, not M1*M0, so ragged chunks are exact.
The formulas assume dense inputs; a sparsity pattern only lowers the counted numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import sympy

from .ir import Cascade, node_op, shape_symbol, walk


@dataclass(frozen=True)
class Costs:
    """Symbolic op counts (total and per Einsum), iteration-space and tensor sizes."""

    op_counts: dict[str, sympy.Expr]
    einsum_ops: dict[str, dict[str, sympy.Expr]]
    iteration_space: dict[str, sympy.Expr]
    tensor_sizes: dict[str, sympy.Expr]

    def evaluate(self, cascade: Cascade, shapes: dict[str, int]) -> dict[str, int]:
        """Total op counts for concrete shapes (split outer parts derived as ceil)."""
        subs = substitutions(cascade, shapes)
        return {op: int(expr.subs(subs)) for op, expr in self.op_counts.items()}


def substitutions(cascade: Cascade, shapes: dict[str, int]) -> dict[sympy.Symbol, int]:
    """Shape symbol -> value for every rank, from user-given shapes."""
    full = cascade.resolve_shapes(shapes)
    return {shape_symbol(r): v for r, v in full.items()}


def space_size(cascade: Cascade, ranks: Iterable[str]) -> sympy.Expr:
    """Number of valid points of the product of `ranks` (split pairs count their parent's shape)."""
    ranks = set(ranks)
    changed = True
    while changed:
        changed = False
        for r in list(cascade.ranks):
            split = cascade.split(r)
            if split and set(split) <= ranks:
                ranks -= set(split)
                ranks.add(r)
                changed = True
    return sympy.Mul(*(shape_symbol(r) for r in sorted(ranks)))


def symbolic_costs(cascade: Cascade) -> Costs:
    """Op counts per operator and per Einsum, and sizes, as formulas of the rank shapes."""
    total: dict[str, sympy.Expr] = {}
    per: dict[str, dict[str, sympy.Expr]] = {}
    spaces: dict[str, sympy.Expr] = {}
    for e in cascade.einsums:
        key = e.key
        size = space_size(cascade, e.space)
        spaces[key] = size
        ops: dict[str, sympy.Expr] = {}
        for node in walk(e.expr):
            if (op := node_op(node)) is not None:
                ops[op] = ops.get(op, sympy.Integer(0)) + size
        if e.reduced:
            op = "max" if e.reduce == "max" else "+"
            ops[op] = ops.get(op, sympy.Integer(0)) + size - space_size(cascade, e.out_ranks)
        per[key] = {k: sympy.expand(v) for k, v in ops.items()}
        for k, v in ops.items():
            total[k] = sympy.expand(total.get(k, sympy.Integer(0)) + v)
    sizes = {t: cascade.size(t) for t in cascade.tensors}
    return Costs(total, per, spaces, sizes)
