"""Tile-sparsity bound of neighborhood attention: the method of the Generalized Neighborhood
Attention simulator (Hassani et al., arXiv 2504.16922, App. B.1; shared/reference/bounds.md).

For every Q tile, the KV tiles it must visit follow from the exact mask; the speedup bound is
the KV tiles a Q tile visits in dense attention over the worst Q tile's count. It is at most
the FLOP bound 1 / (1 - sparsity), reached when the mask is fully block-sparse.

Windows follow NATTEN's convention, per dimension of the token layout: a window of w keys with
w // 2 on the left and w // 2 + w % 2 - 1 on the right of the query, shifted inward at the
borders; with a stride s the queries of each group of s share the window of the group's centre
(min(g s + s // 2, n - 1)); causal: the window ends at the query and starts w - 1 before the
group's last query; dilation d splits a dimension into d interleaved groups, each its own
neighborhood problem (as NATTEN lays them out). The mask of a multi-dimensional layout is the
product of its per-dimension masks, so everything is computed per dimension, vectorised over
queries, and combined: the worst Q tile is the product of the per-dimension worst tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ASSUMPTIONS = (
    "NATTEN window convention (left w//2, right w//2 + w%2 - 1, shifted inward at borders)",
    "dense baseline: every Q tile visits every KV tile of the layout (no causal baseline)",
    "static KV tiling: KV tiles on a fixed grid from 0; dynamic: KV tiles laid from the first "
    "key a Q tile needs, over the span of its keys",
    "dilation: each dilation group is its own neighborhood problem with its own tiles",
    "Q tiles on a fixed grid from 0; a multi-dimensional tile is the product of per-dim tiles",
)


@dataclass(frozen=True)
class Neighborhood:
    """A neighborhood-attention problem and the tiling of one kernel."""

    layout: tuple[int, ...]
    window: tuple[int, ...]
    q_tile: tuple[int, ...]
    kv_tile: tuple[int, ...]
    stride: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    causal: tuple[bool, ...] | None = None
    kv_tiling: str = "static"

    def __post_init__(self) -> None:
        d = len(self.layout)
        full = {"stride": (1,) * d, "dilation": (1,) * d, "causal": (False,) * d}
        for name, default in full.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        for name in ("window", "q_tile", "kv_tile", "stride", "dilation", "causal"):
            if len(getattr(self, name)) != d:
                raise ValueError(f"--{name.replace('_', '-')} has {len(getattr(self, name))} "
                                 f"dimensions, the layout {d}")
        for name in ("layout", "window", "q_tile", "kv_tile", "stride", "dilation"):
            if any(v < 1 for v in getattr(self, name)):
                raise ValueError(f"--{name.replace('_', '-')} values must be positive")
        if self.kv_tiling not in ("static", "dynamic"):
            raise ValueError(f"--kv-tiling must be static or dynamic, got '{self.kv_tiling}'")
        for n, w, dil, s in zip(self.layout, self.window, self.dilation, self.stride):
            if w * dil > n:
                raise ValueError(f"window {w} x dilation {dil} exceeds the layout's {n} tokens")
            if s > w:
                raise ValueError(f"stride {s} exceeds the window {w} (NATTEN requires "
                                 f"stride <= window)")


def windows(n: int, w: int, s: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Key interval [start, end) of every query of a 1-D problem of n tokens (NATTEN)."""
    i = np.arange(n)
    if causal:
        leader = np.minimum((i // s) * s + s - 1, n - 1)
        return np.maximum(leader - w + 1, 0), np.minimum(i + 1, n)
    left, right = w // 2, w // 2 + w % 2 - 1
    leader = np.minimum((i // s) * s + s // 2, n - 1)
    start = np.maximum(leader - left, 0) + np.where(leader + right >= n, n - right - leader - 1, 0)
    return start, start + w


@dataclass(frozen=True)
class DimStats:
    """One dimension: keys summed over queries, dense and worst KV tiles, block-sparsity."""

    keys: int
    dense_tiles: int
    worst_tiles: int
    block_sparse: bool


def dim_stats(n: int, w: int, s: int, dil: int, causal: bool, q: int, t: int,
              dynamic: bool) -> DimStats:
    """Per-dimension counts over all dilation groups."""
    keys, worst, sparse = 0, 0, True
    for g in range(dil):
        m = len(range(g, n, dil))
        start, end = windows(m, w, s, causal)
        keys += int((end - start).sum())
        tiles = np.arange(0, m, q)
        lo, hi = np.minimum.reduceat(start, tiles), np.maximum.reduceat(end, tiles)
        if dynamic:
            count = -(-(hi - lo) // t)
        else:
            kt = -(-m // t)
            diff = np.zeros((len(tiles), kt + 1), np.int64)
            row = np.arange(m) // q
            np.add.at(diff, (row, start // t), 1)
            np.add.at(diff, (row, (end - 1) // t + 1), -1)
            count = (np.cumsum(diff, axis=1)[:, :kt] > 0).sum(axis=1)
        worst = max(worst, int(count.max()))
        same = (np.minimum.reduceat(start, tiles) == np.maximum.reduceat(start, tiles)) & \
               (np.minimum.reduceat(end, tiles) == np.maximum.reduceat(end, tiles))
        whole_end = (end % t == 0) | (end == m)
        aligned = ((hi - lo) % t == 0) | (hi == m) if dynamic else \
            (start % t == 0) & whole_end
        sparse &= bool(same.all() and aligned.all())
    return DimStats(keys, -(-n // t), worst, sparse)


@dataclass(frozen=True)
class TileBound:
    """The simulator's answer for one problem and tiling."""

    flop_bound: float
    tile_bound: float
    dense_kv_tiles: int
    worst_kv_tiles: int
    block_sparse: bool


def tile_bound(p: Neighborhood) -> TileBound:
    """FLOP bound, tile bound, dense and worst-case KV tiles per Q tile of problem `p`."""
    dims = [dim_stats(n, w, s, d, c, q, t, p.kv_tiling == "dynamic") for n, w, s, d, c, q, t in
            zip(p.layout, p.window, p.stride, p.dilation, p.causal, p.q_tile, p.kv_tile)]
    flop = math.prod(n * n / st.keys for n, st in zip(p.layout, dims))
    dense = math.prod(st.dense_tiles for st in dims)
    worst = math.prod(st.worst_tiles for st in dims)
    return TileBound(flop, dense / worst, dense, worst, all(st.block_sparse for st in dims))


def search_stride(p: Neighborhood) -> tuple[int, ...] | None:
    """The smallest stride, per dimension, that makes the mask fully block-sparse (None where
    no stride up to the window does). Candidates are the multiples of the Q tile: a Q tile
    spanning two stride groups sees two windows."""
    out = []
    for k, (n, w, d, c, q, t) in enumerate(zip(p.layout, p.window, p.dilation, p.causal,
                                               p.q_tile, p.kv_tile)):
        found = next((s for s in range(q, w + 1, q)
                      if dim_stats(n, w, s, d, c, q, t, p.kv_tiling == "dynamic").block_sparse),
                     None)
        if found is None:
            return None
        out.append(found)
    return tuple(out)


def parse_dims(text: str, what: str) -> tuple[int, ...]:
    """`30x48x80` -> (30, 48, 80); one line naming the option otherwise."""
    try:
        dims = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"--{what} must be sizes like 30x48x80, got '{text}'") from None
    return dims


def parse_flags(text: str, what: str) -> tuple[bool, ...]:
    """`0x0x1` or `falsexfalsextrue` (per dimension) as booleans."""
    words = {"0": False, "1": True, "false": False, "true": True, "n": False, "y": True}
    try:
        return tuple(words[v] for v in str(text).lower().split("x"))
    except KeyError:
        raise ValueError(f"--{what} must be per-dimension flags like 0x0x1, got '{text}'") from None
