"""The backward library cascades compute the gradients of softmax attention: their dQ, dK, dV
equal numpy's analytic gradients, which equal central finite differences of the forward."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from einsum_cascades import analyse, expand_to_roots, load, run, symbolic_costs


def forward(q, k, v):
    """Softmax attention O[f,p] over keys m, with its P[m,p], row max and denominator."""
    s = np.einsum("ep,em->mp", q, k)
    mx = s.max(axis=0)
    e = np.exp(s - mx)
    ll = e.sum(axis=0)
    p = e / ll
    return np.einsum("mp,fm->fp", p, v), p, mx, ll


def gradients(q, k, v, do):
    """Analytic gradients of sum(dO * O) with respect to Q, K, V."""
    _, p, _, _ = forward(q, k, v)
    dv = np.einsum("mp,fp->fm", p, do)
    dp = np.einsum("fp,fm->mp", do, v)
    ds = p * (dp - (p * dp).sum(axis=0))
    return np.einsum("mp,em->ep", ds, k), np.einsum("mp,ep->em", ds, q), dv


def problem(e, f, m, p, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((e, p)), rng.standard_normal((e, m)),
            rng.standard_normal((f, m)), rng.standard_normal((f, p)))


def test_analytic_gradients_equal_finite_differences():
    q, k, v, do = problem(3, 2, 5, 4, 0)
    grads = gradients(q, k, v, do)
    h = 1e-5
    for x, g in zip((q, k, v), grads):
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + h
            up = (do * forward(q, k, v)[0]).sum()
            x[idx] = old - h
            dn = (do * forward(q, k, v)[0]).sum()
            x[idx] = old
            fd[idx] = (up - dn) / (2 * h)
        assert np.max(np.abs(fd - g)) < 1e-8


SHAPES = [(3, 2, 5, 4, 2), (4, 3, 10, 6, 4), (2, 5, 7, 3, 7), (1, 1, 1, 1, 1), (6, 4, 23, 9, 8)]


@pytest.mark.parametrize("e, f, m, p, m0", SHAPES)
def test_standard_backward(e, f, m, p, m0):
    q, k, v, do = problem(e, f, m, p, m0)
    _, pr, _, _ = forward(q, k, v)
    c = load("backward_standard")
    out = run(c, {"Q": q, "K": k, "V": v, "dO": do, "P": pr}, {"e": e, "f": f, "m": m, "p": p})
    for name, ref in zip(("dQ", "dK", "dV"), gradients(q, k, v, do)):
        assert np.max(np.abs(out.tensors[name] - ref)) < 1e-10


@pytest.mark.parametrize("e, f, m, p, m0", SHAPES)
def test_flash_backward_recomputes_from_row_statistics(e, f, m, p, m0):
    q, k, v, do = problem(e, f, m, p, m0)
    o, _, mx, ll = forward(q, k, v)
    c = load("backward_flash")
    shapes = {"e": e, "f": f, "m": m, "p": p, "m0": m0}
    out = run(c, {"Q": q, "K": k, "V": v, "O": o, "dO": do, "RMX": mx, "RL": ll}, shapes)
    dq, dk, dv = gradients(q, k, v, do)
    assert np.max(np.abs(out.tensors["dQ"] - dq)) < 1e-10
    for name, ref in (("BDK", dk), ("BDV", dv)):  # per-tile outputs, ragged last tile cut off
        got, ranks = expand_to_roots(c, out.tensors[name], c.tensors[name].ranks, shapes)
        assert ranks[-1] == "m"
        assert np.max(np.abs(got - ref)) < 1e-10


def test_backward_passes_and_costs():
    # Standard: dS needs D, a reduction over all of m, before dQ and dK: two passes over m.
    # Flash: the key tiles are one pass; the reduction D over f is done before them.
    std, fl = analyse(load("backward_standard")), analyse(load("backward_flash"))
    assert std.passes["m"] == 2
    assert fl.passes["m"] == 1
    E, F, M, P = sympy.symbols("E F M P", positive=True, integer=True)
    s, f = symbolic_costs(load("backward_standard")).op_counts, symbolic_costs(load("backward_flash")).op_counts
    assert "exp" not in s and f["exp"] == M * P  # the recomputation Flash pays for
    assert s["*"] == 2 * E * M * P + 2 * F * M * P + 2 * M * P
    assert f["*"] - s["*"] == E * M * P + F * P - M * P  # + recomputed scores, + D, - (P*dP)


@pytest.mark.parametrize("e, f, m, p, m0", SHAPES[:3])
def test_standard_dropout_backward_reduces_to_standard(e, f, m, p, m0):
    # with nothing dropped (DM = 1), no key padded (PK = 1) and unit scale, the training
    # backward (dropout, mask and scaling backward kernels) gives the plain gradients
    q, k, v, do = problem(e, f, m, p, m0)
    _, pr, _, _ = forward(q, k, v)
    c = load("backward_standard_dropout")
    out = run(c, {"Q": q, "KS": k, "V": v, "dO": do, "A": pr, "PD": pr, "DM": np.ones_like(pr),
                  "PK": np.ones(m), "SC": np.array(1.0)}, {"e": e, "f": f, "m": m, "p": p})
    for name, ref in zip(("dQ", "dK", "dV"), gradients(q, k, v, do)):
        assert np.max(np.abs(out.tensors[name] - ref)) < 1e-10
