"""Pass analysis (FuseMax, Sec. III) on the library and on cascades it has never seen."""

from __future__ import annotations

import sympy
import pytest

from einsum_cascades import analyse, library, load, parse

S = sympy.symbols("E F M M0 P K", positive=True, integer=True)
E, F, M, M0, P, K = S


@pytest.mark.parametrize("name, classes", [
    ("three_pass", 3), ("three_pass_reassoc", 2), ("two_pass", 2), ("one_pass", 1),
    ("one_pass_causal", 1), ("one_pass_gqa", 1), ("one_pass_block_sparse", 1),
    ("decode_split_k", 2),
])
def test_library_classes(name, classes):
    r = analyse(load(name))
    assert r.max_passes == classes
    assert r.passes["m"] == classes  # the keys rank drives the class
    assert all(v == 1 for k, v in r.passes.items() if k != "m")


def test_every_library_cascade_is_analysed():
    for name in library.names():
        assert analyse(load(name)).max_passes >= 1


def test_three_pass_per_tensor():
    r = analyse(load("three_pass"))
    # K's m-fibers (or QK, SN buffered from them) are traversed in passes 1, 2 and 3;
    # V is only needed in the third pass, Q has no m rank.
    assert r.tensor_passes == {"Q": {"e": 1, "p": 1}, "K": {"e": 1, "m": 3}, "V": {"f": 1, "m": 1}}
    assert r.einsum_levels["SN"]["m"] == 2 and r.einsum_levels["A"]["m"] == 3


def test_one_pass_tiles_make_two_passes_over_m0_only():
    r = analyse(load("one_pass"))
    assert r.split_passes == {"m1": 1, "m0": 2}
    assert r.einsum_levels["SLN"] == {"p": 1, "m1": 1, "m0": 2}


def test_pedagogical_two_pass():
    # FuseMax Sec. III: Y = sum_k A_k B_k, then Z = sum_k Y A_k re-reads A's k fiber.
    r = analyse(parse("Y[] = A[k] * B[k]\nZ[] = Y[] * A[k]"))
    assert r.max_passes == 2
    assert r.tensor_passes == {"A": {"k": 2}, "B": {"k": 1}}


def test_pedagogical_reassociated_one_pass():
    # Z = Y * sum_k A_k: the reduction of A no longer waits for Y.
    r = analyse(parse("Y[] = A[k] * B[k]\nS[] = A[k]\nZ[] = Y[] * S[]"))
    assert r.max_passes == 1
    assert r.tensor_passes == {"A": {"k": 1}, "B": {"k": 1}}


def test_derived_not_labelled():
    # The 3-pass cascade with renamed tensors and ranks, an extra element-wise scale and the
    # Einsums in another order is still 3-pass: nothing depends on names.
    text = """
    Out[d,q] = W[k,q] * Val[d,k]
    Sc[k,q] = Qry[c,q] * Key[c,k]
    Mx[q] = max(Sc[k,q])
    Ex[k,q] = exp(2 * Sc[k,q] - Mx[q])
    Den[q] = Ex[k,q]
    W[k,q] = Ex[k,q] / Den[q]
    """
    r = analyse(parse(text))
    assert r.passes == {"c": 1, "q": 1, "k": 3, "d": 1}
    # a chain of four full reductions each read back element-wise: 5 passes
    chain = "\n".join(["X1[k] = A[k] * B[]"] + [
        f"S{i}[] = X{i}[k]\nX{i + 1}[k] = X{i}[k] - S{i}[]" for i in range(1, 5)])
    assert analyse(parse(chain)).max_passes == 5


def test_footprints():
    f = analyse(load("one_pass")).footprint["m"]
    # Q for all queries, RM, RD, RNV, and one M0-tile of scores read twice within the tile
    assert sympy.simplify(f - P * (E + F + M0 + 2)) == 0
    f3 = analyse(load("three_pass")).footprint["m"]
    # a single traversal of m must buffer QK and SN whole (read in two passes each)
    assert sympy.simplify(f3 - (E * P + 2 * M * P + 2 * P + F * P)) == 0
    f2 = analyse(parse("Y[] = A[k] * B[k]\nZ[] = Y[] * A[k]")).footprint["k"]
    assert sympy.simplify(f2 - (K + 2)) == 0


def test_report_json_shape():
    d = analyse(load("one_pass")).to_dict()
    assert d["cascade"] == "one_pass" and d["max_passes"] == 1 and d["passes"]["m"] == 1
    assert isinstance(d["footprint"]["m"], str)
