"""Operations an Einsum asks of a compute unit, by the estimator's op types.

From the cascade's symbolic op counts (einsum_cascades.costs): a product that is sum-reduced runs
as multiply-accumulates (one MAC per point of the iteration space absorbs the multiply and the
reduction's adds); an exponential of a difference, exp(x - y), is one `exp` op (the unit's exp
includes forming its argument: FuseMax's Taylor-series exp is 6 MACs + 1 add, the add being
x - y; GPUs fold it into the FFMA before EX2); otherwise `+` and `-` are adds, `*` multiplies,
`/` divides, `max` and a max-reduction compare, `exp` is an exponential, and a sum-reduction
adds.
"""

from __future__ import annotations

import math
from fractions import Fraction

import sympy

from einsum_cascades import Cascade, symbolic_costs
from einsum_cascades.costs import space_size
from einsum_cascades.ir import Binary, Einsum, Unary, shape_symbol, walk

_MAP = {"+": "add", "-": "add", "neg": "add", "*": "mul", "/": "div", "max": "max", "exp": "exp"}


#: a count as a polynomial of the rank shapes: (coefficient, ((rank, power), ...)) per term
Polynomial = tuple[tuple[int | Fraction, tuple[tuple[str, int], ...]], ...]

#: op formulas, their polynomials and counts of recently used cascades, by identity (a cascade
#: is immutable; the entry holds it, so its id is not reused while cached): mappers build many
#: mappings of one cascade, and deriving the formulas with sympy is the slow part
_CACHE: dict[int, tuple[Cascade, dict, dict, dict]] = {}
_CACHE_SIZE = 32
_COUNTS_SIZE = 1024  # shape sets whose counts each cascade keeps


def _cached(c: Cascade) -> tuple[dict, dict, dict]:
    """(formulas, polynomials, counts by shapes) of `c`, derived once per cascade object."""
    hit = _CACHE.get(id(c))
    if hit is None or hit[0] is not c:
        costs = symbolic_costs(c)
        formulas = {e.key: _convert(c, e, costs.einsum_ops[e.key]) for e in c.einsums}
        ranks = {shape_symbol(r): r for r in c.ranks}
        polys = {k: {op: polynomial(n, ranks) for op, n in ops.items()}
                 for k, ops in formulas.items()}
        hit = (c, formulas, polys, {})
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[id(c)] = hit
    return hit[1], hit[2], hit[3]


def op_formulas(c: Cascade) -> dict[str, dict[str, sympy.Expr]]:
    """Symbolic count of each estimator op, per Einsum key."""
    return _cached(c)[0]


def polynomial(expr: sympy.Expr, ranks: dict[sympy.Symbol, str]) -> Polynomial:
    """A count (a polynomial of shape symbols, `ranks` naming each) as exact terms: evaluated
    in Python integers and fractions it is what sympy's substitution gives, without sympy."""
    gens = sorted(expr.free_symbols, key=str)
    if not gens:
        return ((_exact(expr), ()),)
    return tuple((_exact(coef), tuple((ranks[g], k) for g, k in zip(gens, powers) if k))
                 for powers, coef in sympy.Poly(expr, *gens).terms())


def _exact(q: sympy.Expr) -> int | Fraction:
    """A rational sympy number as a Python int (or Fraction)."""
    q = sympy.Rational(q)
    return int(q.p) if q.q == 1 else Fraction(int(q.p), int(q.q))


def evaluate(poly: Polynomial, shapes: dict[str, int]) -> float:
    """A polynomial's value at concrete shapes (every rank's, resolved), exact until the
    final rounding to float."""
    return float(sum(coef * math.prod(shapes[r] ** k for r, k in mono) for coef, mono in poly))


def _convert(c: Cascade, e: Einsum, sym: dict[str, sympy.Expr]) -> dict[str, sympy.Expr]:
    out: dict[str, sympy.Expr] = {}
    for op, n in sym.items():
        out[_MAP[op]] = out.get(_MAP[op], sympy.Integer(0)) + n
    shifted = sum(1 for n in walk(e.expr) if isinstance(n, Unary) and n.op == "exp"
                  and isinstance(n.arg, Binary) and n.arg.op == "-")
    if shifted:
        out["add"] = out["add"] - shifted * space_size(c, e.space)
    if e.reduced and e.reduce == "sum" and isinstance(e.expr, Binary) and e.expr.op == "*":
        points = space_size(c, e.space)
        out["mac"] = points
        out["mul"] = out["mul"] - points
        out["add"] = out["add"] - (points - space_size(c, e.out_ranks))
    return {k: v for k, v in ((k, sympy.expand(v)) for k, v in out.items()) if v != 0}


def op_counts(c: Cascade, shapes: dict[str, int]) -> dict[str, dict[str, float]]:
    """Op counts per Einsum key at concrete shapes (a fresh copy: callers may change it)."""
    _, polys, counts = _cached(c)
    key = tuple(sorted(shapes.items()))
    if key not in counts:
        if len(counts) >= _COUNTS_SIZE:  # a sweep over shapes meets each set a few times
            counts.pop(next(iter(counts)))
        full = c.resolve_shapes(shapes)
        counts[key] = {k: {op: evaluate(n, full) for op, n in ops.items()}
                       for k, ops in polys.items()}
    return {k: dict(v) for k, v in counts[key].items()}
