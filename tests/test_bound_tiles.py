"""GNA tile-sparsity bound: published Fig. 3 and NATTEN numbers, and a brute-force mask check."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from studies.bounds.tiles import (Neighborhood, dim_stats, parse_dims, search_stride, tile_bound,
                                  windows)
from studies.cli import app

DATA = Path(__file__).parents[1] / "studies" / "data" / "gna"


def _rows(name: str) -> list[dict]:
    with open(DATA / name) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _rows("fig3.csv"), ids=lambda r: f"{r['case']}-{r['quantity']}")
def test_gna_fig3(row):
    """Hassani et al., arXiv 2504.16922, Fig. 3 (studies/data/gna/fig3.csv): the paper prints
    one decimal, so the tolerance is half its last digit (column `rounding`)."""
    p = Neighborhood(parse_dims(row["layout"], "layout"), parse_dims(row["window"], "window"),
                     parse_dims(row["q_tile"], "q-tile"), parse_dims(row["kv_tile"], "kv-tile"),
                     kv_tiling=row["kv_tiling"])
    if row["stride"] == "search":
        p = replace(p, stride=search_stride(p))
        assert p.stride == (16, 8, 8)
    else:
        p = replace(p, stride=parse_dims(row["stride"], "stride"))
    r = tile_bound(p)
    assert getattr(r, row["quantity"]) == pytest.approx(float(row["value"]),
                                                        abs=float(row["rounding"]))


def test_gna_fig3_counts():
    """Fig. 3's problem in KV tiles: 900 dense; worst Q tile 11 x 5 x 5 at stride 1, 9 x 3 x 3
    (exactly the window) with the block-sparse stride."""
    p = Neighborhood((30, 48, 80), (18, 24, 24), (4, 8, 8), (2, 8, 8))
    r = tile_bound(p)
    assert (r.dense_kv_tiles, r.worst_kv_tiles, r.block_sparse) == (900, 275, False)
    s = tile_bound(replace(p, stride=(16, 8, 8)))
    assert (s.worst_kv_tiles, s.block_sparse) == (81, True)
    assert s.tile_bound == pytest.approx(s.flop_bound)
    # dynamic KV tiling needs only a stride that the Q tile divides
    assert search_stride(replace(p, kv_tiling="dynamic")) == (4, 8, 8)


def test_natten_1d_flop_bound_and_measurements():
    """NATTEN docs (studies/data/gna/natten_1d.csv): N = 32768, window 2048 has a FLOP bound of
    16x (exact); every measured speedup lies below our tile bound for that stride."""
    rows = _rows("natten_1d.csv")
    p = Neighborhood((32768,), (2048,), (128,), (128,))
    flop = next(r for r in rows if r["quantity"] == "flop_bound")
    assert tile_bound(p).flop_bound == pytest.approx(float(flop["value"]), rel=1e-12)
    for r in (r for r in rows if r["quantity"] == "measured_speedup"):
        b = tile_bound(replace(p, stride=(int(r["stride"]),)))
        assert b.tile_bound >= float(r["value"]), r["case"]
    assert search_stride(p) == (256,)  # NATTEN's documented stride-256 case is block-sparse


def _mask(n, w, s, dil, causal):
    """The dense 1-D mask [query, key] by brute force from NATTEN's rules."""
    m = np.zeros((n, n), bool)
    for g in range(dil):
        idx = np.arange(g, n, dil)
        start, end = windows(len(idx), w, s, causal)
        for qi, (a, b) in enumerate(zip(start, end)):
            m[idx[qi], idx[a:b]] = True
    return m


@pytest.mark.parametrize("n, w, s, dil, causal, q, t", [
    (37, 9, 1, 1, False, 4, 3), (40, 8, 4, 1, False, 4, 4), (33, 6, 3, 2, False, 2, 2),
    (29, 7, 1, 1, True, 4, 4), (48, 12, 4, 1, True, 8, 2), (64, 16, 8, 1, False, 8, 8)])
def test_vectorised_counts_equal_brute_force_mask(n, w, s, dil, causal, q, t):
    """Static tiles per Q tile and block-sparsity from the explicit mask, tile by tile (with
    dilation, tiles over each dilation group, as NATTEN lays the groups out)."""
    st = dim_stats(n, w, s, dil, causal, q, t, dynamic=False)
    m = _mask(n, w, s, dil, causal)
    worst, sparse = 0, True
    for g in range(dil):
        idx = np.arange(g, n, dil)
        sub = m[np.ix_(idx, idx)]
        for a in range(0, len(idx), q):
            blocks = [sub[a:a + q, b:b + t] for b in range(0, len(idx), t)]
            worst = max(worst, sum(blk.any() for blk in blocks))
            sparse &= all(blk.all() or not blk.any() for blk in blocks)
    assert st.worst_tiles == worst and st.block_sparse == sparse
    assert st.keys == m.sum()


def test_bound_never_exceeds_flop_bound():
    for layout, q, t in itertools.product([(30, 48), (64,)], [4, 8], [2, 8]):
        w = tuple(max(2, n // 3) for n in layout)
        p = Neighborhood(layout, w, (q,) * len(layout), (t,) * len(layout))
        r = tile_bound(p)
        assert r.tile_bound <= r.flop_bound + 1e-12


def test_cli_tiles_json_and_errors():
    runner = CliRunner()
    r = runner.invoke(app, ["bound", "tiles", "--layout", "30x48x80", "--window", "18x24x24",
                            "--q-tile", "4x8x8", "--kv-tile", "2x8x8", "--search-stride",
                            "-f", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["block_sparse_stride"] == "16x8x8" and data["worst_kv_tiles"] == 275
    assert data["tile_bound_at_that_stride"] == pytest.approx(100 / 9)
    bad = runner.invoke(app, ["bound", "tiles", "--layout", "30x48", "--window", "18x24x24",
                              "--q-tile", "4x8x8", "--kv-tile", "2x8x8"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "dimensions" in bad.output


@pytest.mark.parametrize("n, w", [(30, 18), (48, 24), (37, 7), (10, 10)])
def test_windows_follow_natten_convention(n, w):
    """NATTEN: w keys, w // 2 left of the query (w // 2 - 1 right for even w), shifted inward
    at the borders; a stride group shares one window; causal windows end at the query."""
    start, end = windows(n, w, 1, False)
    i = np.arange(n)
    assert np.all(end - start == w) and np.all((start <= i) & (i < end))
    assert np.array_equal(start, np.clip(i - w // 2, 0, n - w))
    s = 4
    gs, ge = windows(n, w, s, False)
    for g in range(0, n, s):
        assert len(set(gs[g:g + s])) == 1 and len(set(ge[g:g + s])) == 1
    cs, ce = windows(n, w, 1, True)
    assert np.array_equal(ce, i + 1) and np.array_equal(cs, np.maximum(i - w + 1, 0))
