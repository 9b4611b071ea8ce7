"""Every library cascade computes softmax attention, on random shapes and chunk sizes
(ragged last chunks included), and its symbolic op counts equal those counted while it runs."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades import (check_attention, library, load, random_inputs, run, symbolic_costs)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

shapes_st = st.fixed_dictionaries({
    "e": st.integers(1, 6), "f": st.integers(1, 5), "m": st.integers(1, 23),
    "p": st.integers(1, 9), "m0": st.integers(1, 8), "p0": st.integers(1, 4),
    "g": st.integers(1, 3), "j": st.integers(1, 3),
    "n": st.integers(1, 9), "i": st.integers(1, 7), "o": st.integers(1, 7),
})


#: forward attention cascades: they read Q, K, V (and sparsity patterns) and write one output
#: (the backward cascades, with outputs dQ, dK, dV, are checked against gradients in
#: test_backward.py; training attention, with scale, mask and dropout inputs, below)
ATTENTION = [n for n in library.names()
             if set(load(n).inputs) - set(load(n).patterns) == {"Q", "K", "V"}
             and len(load(n).outputs) == 1]


def for_cascade(c, shapes):
    return {r: v for r, v in shapes.items() if r in c.ranks}


def test_attention_cascades_are_found():
    assert len(ATTENTION) >= 8 and "gemm" not in ATTENTION


@pytest.mark.parametrize("name", ATTENTION)
@SETTINGS
@given(shapes=shapes_st, seed=st.integers(0, 2**16))
def test_equals_softmax_attention(name, shapes, seed):
    c = load(name)
    err = check_attention(c, for_cascade(c, shapes), seed=seed)
    assert err < 1e-9


@SETTINGS
@given(shapes=shapes_st, seed=st.integers(0, 2**16))
def test_training_attention_with_nothing_masked_or_dropped_is_attention(shapes, seed):
    # three_pass_dropout at unit scale, no padded key and nothing dropped is softmax attention
    c = load("three_pass_dropout")
    s = for_cascade(c, shapes)
    inputs = random_inputs(c, s, seed) | {"SC": np.array(1.0), "PB": np.zeros(s["m"]),
                                          "DM": np.ones((s["m"], s["p"]))}
    assert check_attention(c, s, inputs=inputs) < 1e-9


MASKED = ("three_pass_masked", "three_pass_recompute_masked")


@pytest.mark.parametrize("name", MASKED)
@SETTINGS
@given(shapes=shapes_st, seed=st.integers(0, 2**16))
def test_additive_mask_of_zeros_is_attention(name, shapes, seed):
    # the benchmark-style additive score mask CM at 0 everywhere leaves softmax attention
    c = load(name)
    s = for_cascade(c, shapes)
    inputs = random_inputs(c, s, seed) | {"CM": np.zeros((s["m"], s["p"]))}
    assert check_attention(c, s, inputs=inputs) < 1e-9


@pytest.mark.parametrize("name", MASKED)
@SETTINGS
@given(n=st.integers(1, 12), e=st.integers(1, 6), f=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_additive_causal_mask_is_causal_attention(name, n, e, f, seed):
    # CM as flash-attention's attention_pytorch builds it (triu of -10000 above the diagonal:
    # key m hidden from query p when m > p) equals causal attention, by a numpy reference
    c = load(name)
    s = {"e": e, "f": f, "m": n, "p": n}
    keys, queries = np.arange(n)[:, None], np.arange(n)[None, :]
    inputs = random_inputs(c, s, seed) | {"CM": np.where(keys > queries, -10000.0, 0.0)}
    q, k, v = inputs["Q"], inputs["K"], inputs["V"]
    scores = np.where(keys <= queries, k.T @ q, -np.inf)  # [m, p]
    p = np.exp(scores - scores.max(axis=0))
    ref = v @ (p / p.sum(axis=0))  # [f, p]
    assert np.max(np.abs(run(c, inputs, s).tensors["AV"] - ref)) < 1e-9


@pytest.mark.parametrize("name", library.names())
@SETTINGS
@given(shapes=shapes_st, seed=st.integers(0, 2**16))
def test_symbolic_equals_counted(name, shapes, seed):
    c = load(name)
    s = for_cascade(c, shapes)
    counted = run(c, random_inputs(c, s, seed), s).op_counts
    symbolic = symbolic_costs(c).evaluate(c, s)
    if c.patterns:  # absent scores skip their work: never more than the dense formula
        assert all(counted.get(op, 0) <= n for op, n in symbolic.items())
    else:
        assert counted == {op: n for op, n in symbolic.items() if n}


def test_full_pattern_counts_equal_dense_formula():
    c = load("one_pass_causal")
    s = {"e": 3, "f": 2, "m": 7, "p": 5, "m0": 3}
    inputs = random_inputs(c, s, 0)
    inputs["CM"] = np.ones_like(inputs["CM"])
    assert run(c, inputs, s).op_counts == symbolic_costs(c).evaluate(c, s)


def test_causal_mask_skips_masked_scores():
    c = load("one_pass_causal")
    s = {"e": 3, "f": 2, "m": 9, "p": 6, "m0": 4}
    counted = run(c, random_inputs(c, s, 0), s).op_counts
    visible = sum(1 for m in range(9) for p in range(6) if m <= p)
    m1 = 3
    # exp of the visible scores (SLN) plus one correction factor per tile and query (PRM)
    assert counted["exp"] == visible + m1 * 6
    # two multiplies (mask select, then Q*K) per visible (score, e) point; AV products likewise
    assert counted["*"] == 2 * 3 * visible + 2 * visible + 2 * m1 * 6 + m1 * 6


def test_reassociation_moves_divisions():
    # FuseMax Sec. IV: dividing after AV cuts divisions from M*P to F*P.
    F, M, P = sympy.symbols("F M P", positive=True, integer=True)
    assert symbolic_costs(load("three_pass")).op_counts["/"] == M * P
    assert symbolic_costs(load("three_pass_reassoc")).op_counts["/"] == F * P
    assert symbolic_costs(load("one_pass")).op_counts["/"] == F * P


def test_run_example_from_issue():
    c = load("one_pass")
    s = {"e": 64, "f": 64, "m": 1024, "p": 256, "m0": 128}
    assert check_attention(c, s, seed=0) < 1e-9


def test_ragged_chunk_is_exact():
    c = load("one_pass")
    s = {"e": 4, "f": 3, "m": 10, "p": 2, "m0": 4}  # chunks of 4, 4, 2
    assert c.resolve_shapes(s)["m1"] == 3
    inputs = random_inputs(c, s, 3)
    out = run(c, inputs, s)
    assert not out.valid["BK"][:, 2, 2:].any() and out.valid["BK"][:, 2, :2].all()
    assert check_attention(c, s, inputs=inputs) < 1e-12


def test_fully_masked_first_tile_stays_finite():
    # a query whose first key tile is masked out: the running max is still -inf after it
    c = load("one_pass_block_sparse")
    s = {"e": 3, "f": 2, "m": 8, "p": 4, "m0": 4, "p0": 2}
    inputs = random_inputs(c, s, 0)
    inputs["BM"] = np.array([[False, True], [True, True]])
    assert check_attention(c, s, inputs=inputs) < 1e-12
