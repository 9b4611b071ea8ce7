"""Op counts at concrete shapes (mappers.ops, exact polynomials in Python integers) equal sympy's
substitution into the symbolic formulas, on every library cascade at random shapes, small and
past 2**53 (where the final rounding to float shows)."""

from __future__ import annotations

import numpy as np
import pytest

from einsum_cascades import library, load
from einsum_cascades.costs import substitutions
from mappers import ops

#: ranks a library cascade may take as given (split outer parts are derived)
GIVEN = ("e", "f", "m", "p", "m0", "p0", "g", "j", "n", "i", "o")


def oracle(c, shapes: dict[str, int]) -> dict[str, dict[str, float]]:
    """The counts by sympy substitution (what mappers.ops computed before it kept polynomials)."""
    subs = substitutions(c, shapes)
    return {k: {op: float(n.subs(subs)) for op, n in v.items()}
            for k, v in ops.op_formulas(c).items()}


@pytest.mark.parametrize("name", library.names())
def test_counts_equal_sympy_substitution(name):
    c = load(name)
    rng = np.random.default_rng(0)
    for high in (9, 5000, 3_000_000):
        shapes = {r: int(rng.integers(1, high)) for r in GIVEN if r in c.ranks}
        assert ops.op_counts(c, shapes) == oracle(c, shapes), shapes


def test_rational_coefficients_stay_exact():
    import sympy

    # a user's formula may carry fractions: the value is the exact rational, rounded once
    x = sympy.Symbol("X")
    expr = sympy.Rational(1, 3) * x**2 + 7
    v = 10**9 + 1  # v**2 / 3 is not whole
    assert ops.evaluate(ops.polynomial(expr, {x: "x"}), {"x": v}) == float(expr.subs(x, v))
