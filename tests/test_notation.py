"""The notation: the grammar of the foundation issue parses, and every error class is reported
with file, line and column and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from einsum_cascades import CascadeError, load, parse, run
from einsum_cascades.ir import ConstIdx, FinalIdx, RankIdx, SplitIdx

GRAMMAR = """
QK[m,p] = Q[e,p] * K[e,m]            # ranks absent from the output are sum-reduced
GM[p] = max(QK[m,p])                  # max-reduce over m
SN[m,p] = exp(QK[m,p] - GM[p])
SD[p] = SN[m,p]                       # sum over m
A[m,p] = SN[m,p] / SD[p]
Y[] = X[k] * B[k]                     # scalar output
BK[e,m1,m0] = K[e, m1*M0+m0]          # rank split; M0 is the shape of m0
LM[m1,p] = max(BK[e,m1,m0])
RM[0,p] = -inf                        # initial value of an iterative rank
RM[m1+1,p] = max(RM[m1,p], LM[m1,p])
RNV[f,0,p] = 0
RNV[f,m1+1,p] = RNV[f,m1,p] + LM[m1,p] * V[f,m1]
RD[0,p] = 0
RD[m1+1,p] = RD[m1,p] + RM[m1+1,p]
AV[f,p] = RNV[f,M1,p] / RD[M1,p]      # final value of an iterative rank
"""


def test_issue_grammar_parses():
    c = parse(GRAMMAR)
    by = {(e.output, e.kind): e for e in c.einsums}
    assert by["QK", "compute"].reduced == ("e",) and by["QK", "compute"].reduce == "sum"
    assert by["GM", "compute"].reduce == "max" and by["GM", "compute"].reduced == ("m",)
    assert by["SD", "compute"].map_op == "copy"
    assert by["Y", "compute"].out_ranks == ()
    split = by["BK", "compute"].expr.indices[1]
    assert split == SplitIdx("m1", "m0", "m")
    assert by["RM", "init"].out_indices[0] == ConstIdx(0)
    assert by["RM", "update"].out_indices[0] == RankIdx("m1", 1)
    assert by["AV", "compute"].expr.lhs.indices[1] == FinalIdx("m1")
    assert c.ranks["m1"].parent == "m" and c.ranks["m1"].part == "outer"
    assert c.ranks["m1"].iterative
    assert set(c.inputs) == {"Q", "K", "X", "B", "V"}


def test_design_reduce_form_and_literals():
    c = parse("GM[p] = max(m) QK[m,p]\nT[p] = 2.5 * -GM[p] + 1")
    assert c.einsums[0].reduce == "max" and c.einsums[0].reduced == ("m",)
    out = run(c, {"QK": np.array([[1.0, -3.0], [2.0, 0.5]])}, {"m": 2, "p": 2})
    np.testing.assert_allclose(out.tensors["T"], [-4.0, 1 - 1.25])


def test_elementwise_max_and_explicit_sum():
    c = parse("Z[m] = max(A[m], B[m])\nS[] = sum(Z[m])")
    out = run(c, {"A": np.array([1.0, 5.0]), "B": np.array([3.0, 2.0])}, {"m": 2})
    assert out.tensors["S"] == 8.0


@pytest.mark.parametrize("text, line, col, words", [
    # unknown tensor (declared inputs make undefined tensors errors)
    ("@input Q[e,p], K[e,m]\nQK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QKK[m,p])", 3, 13,
     "unknown tensor 'QKK'"),
    # a rank used with two different shapes: K's axis 0 is e, then f
    ("QK[m,p] = Q[e,p] * K[e,m]\nX[f,m] = K[f,m]", 2, 10, "rank 'f' used with two different shapes"),
    # the shape symbol of a split's inner rank must be its own
    ("BK[e,m1,m0] = K[e, m1*P0+m0]", 1, 23, "rank 'm0' used with two different shapes"),
    # an operator that does not exist
    ("Y[m] = log(A[m])", 1, 8, "unknown operator 'log'"),
    ("Y[m] = A[m] ^ B[m]", 1, 13, "unknown operator or character '^'"),
    # a dependency cycle
    ("A[m] = B[m] * C[m]\nB[m] = A[m] + C[m]", 1, 1, "dependency cycle"),
    ("RM[0,p] = -inf\nRM[m1+1,p] = max(RM[m1+1,p], L[m1,p])", 2, 1, "dependency cycle"),
    # an input declared twice, in one @input or again as a @pattern
    ("@input Q[e,p], Q[e,p]\nY[p] = Q[e,p]", 1, 16, "input 'Q' declared twice (first at line 1)"),
    ("@input Q[e,p]\n@pattern Q[e,p] causal\nY[p] = Q[e,p]", 2, 10, "input 'Q' declared twice"),
    # an output defined twice
    ("A[m] = B[m]\nA[m] = C[m]", 2, 1, "output 'A' defined twice (first at line 1)"),
    # syntax
    ("QK[m,p] = Q[e,p] * * K[e,m]", 1, 20, "expected an operand"),
    ("QK[m,p] = Q[e,p * K[e,m]", 1, 20, "expected '+' in the split"),
    ("QK[m,p] = Q[e,p K[e,m]", 1, 17, "expected ',' or ']'"),
    ("QK[m,p] Q[e,p]", 1, 9, "expected '='"),
    ("Y[m] = max(A[m]) + B[m]", 1, 8, "must be the whole right-hand side"),
    ("RM[m1+2,p] = RM[m1,p]", 1, 7, "only 'm1+1'"),
    ("RM[m1+1,p] = max(RM[m1,p], L[m1,p])", 1, 1, "has no initial value"),
    ("RM[0,p] = 0", 1, 1, "no update"),
    ("A[m,m] = B[m]", 1, 1, "rank 'm' appears twice"),
    ("X[p] = A[m,p]\nY[p] = A[m,p,e]", 2, 8, "'A' has 2 rank(s)"),
    ("Y[p] = X[M1,p]", 1, 8, "not iterative"),
    ("@frobnicate A[m]\nY[m] = A[m]", 1, 2, "unknown declaration"),
    ("# only a comment", 1, 1, "no Einsums"),
])
def test_errors_name_line_column_and_reason(parse_error, text, line, col, words):
    err = parse_error(text)
    assert err.pos is not None
    assert (err.pos.source, err.pos.line, err.pos.col) == ("t.cascade", line, col), str(err)
    assert words in err.message, str(err)
    assert "\n" not in str(err)


def test_file_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.cascade"
    f.write_text("# attention\nQK[m,p] = Q[e,p] * K[e,m]\nQK[m,p] = Q[e,p]\n")
    with pytest.raises(CascadeError, match=r"bad\.cascade:3:1: output 'QK' defined twice"):
        load(f)


def test_unknown_cascade_name_lists_library():
    with pytest.raises(CascadeError, match="one_pass"):
        load("no_such_cascade")


def test_shape_errors():
    c = load("one_pass")
    with pytest.raises(CascadeError, match="needs the shape of rank"):
        c.resolve_shapes({"e": 4, "f": 4, "m": 8})
    with pytest.raises(CascadeError, match="does not have"):
        c.resolve_shapes({"e": 4, "f": 4, "m": 8, "p": 2, "m0": 4, "zz": 3})
    with pytest.raises(CascadeError, match="ceil"):
        c.resolve_shapes({"e": 4, "f": 4, "m": 8, "p": 2, "m0": 4, "m1": 3})
    with pytest.raises(CascadeError, match="positive integer"):
        c.resolve_shapes({"e": 0, "f": 4, "m": 8, "p": 2, "m0": 4})


def test_bad_input_arrays():
    c = load("three_pass")
    shapes = {"e": 2, "f": 2, "m": 3, "p": 2}
    with pytest.raises(CascadeError, match="no value given for input 'V'"):
        run(c, {"Q": np.zeros((2, 2)), "K": np.zeros((2, 3))}, shapes)
    with pytest.raises(CascadeError, match=r"input 'K' has shape \(3, 2\), expected \(2, 3\)"):
        run(c, {"Q": np.zeros((2, 2)), "K": np.zeros((3, 2)), "V": np.zeros((2, 3))}, shapes)


def test_a_fixed_iterate_past_the_last_is_an_error_at_run_time():
    # positions 0..M exist at shape M; RM[6] at M = 5 is past them (was an IndexError)
    c = parse("RM[0] = 0\nRM[m+1] = RM[m] + A[m]\nZ[] = RM[6]", "t.cascade")
    assert run(c, {"A": np.ones(6)}, {"m": 6}).tensors["Z"] == 6.0
    with pytest.raises(CascadeError, match=r"t.cascade:3:7: RM\[6\] reads position 6 of rank 'm', "
                                           r"which has positions 0..5"):
        run(c, {"A": np.ones(5)}, {"m": 5})
