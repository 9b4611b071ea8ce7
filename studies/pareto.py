"""FuseMax's Pareto sweep (paper Fig. 12): latency against area as the arrays grow, at 256K.

For each 2D-array side p the FuseMax preset is resized (a p x p 2D array, a p-PE 1D array,
register files and buffer rows sized as the artifact's sweep sizes them) and mapped with the
FuseMax hand mapping; the buffer is the smallest of a doubling series whose DRAM time stays
within the 1D array's compute time (the artifact's `run.py pareto` loop,
docs/fusemax-artifact-model.md section 9, 11.8). Latency comes from the estimator, area from
energy.area_um2 with the artifact's accounting (no adder where a PE has a MAC, register files
as the padded arrays its Accelergy version priced). Rows use the columns of pareto.csv.
"""

from __future__ import annotations

import csv
from typing import Callable, Iterable

from archsim.spec import load_arch
from energy import area_um2
from mappers.spatial import fusemax

from .evaluate import score
from .reproduce import DATA
from .workloads import MODELS, Workload

SIDES = (16, 32, 64, 128, 256, 512)
SEQ = 256 * 1024
#: doublings of the buffer tried before giving up on a point (1 GiB from the smallest at p = 512)
MAX_DOUBLINGS = 10


def min_tiles(side: int, head_dim: int) -> int:
    """K/V tiles the artifact's sweep provisions for: two per head_dim-wide block of the side."""
    return max(1, side // head_dim) * 2


def smallest_buffer_bytes(side: int, head_dim: int) -> int:
    """The first buffer of the artifact's series: min_P1 query tiles of side x head_dim words
    (x 8 x 2 B), min_P1 = the tiles that do not fit a 256K-word-per-side budget."""
    p1 = max(1, min_tiles(side, head_dim) // (256 * 1024 // side))
    return side * p1 * head_dim * 8 * 2


def sweep_arch(side: int, head_dim: int, buffer_bytes: int, base=None):
    """The FuseMax preset at array side `side`: register files of 2 and 8 x min_tiles entries
    (2D, 1D; the artifact's accelergy_arch_cb), buffer rows of `side` 16-bit words."""
    base = base or load_arch("fusemax")
    tiles = min_tiles(side, head_dim)
    return base.with_overrides([
        f"pe2d.shape=[{side},{side}]", f"pe1d.shape=[{side}]",
        f"pe2d.register_file_entries={2 * tiles}", f"pe1d.register_file_entries={8 * tiles}",
        f"global_buffer.capacity={buffer_bytes}B",
        f"global_buffer.width_bits={side * base.word_bits}",
        f"description=FuseMax Pareto point, {side}x{side} + {side} PEs, {buffer_bytes} B buffer"])


def pareto_point(w: Workload, side: int, seq: int = SEQ, base=None) -> dict:
    """One row: the smallest buffer of the series whose DRAM time is within the 1D compute
    time, the latency split there and the area."""
    base = base or load_arch("fusemax")
    buffer_bytes = smallest_buffer_bytes(side, w.head_dim)
    for _ in range(MAX_DOUBLINGS + 1):
        arch = sweep_arch(side, w.head_dim, buffer_bytes, base)
        m = fusemax(None, w.head_dim, seq, w.batch * w.heads, arch)
        r = score(m, arch, "artifact")
        busy = {u: r["busy_s"][u] for u in ("pe2d", "pe1d")}
        if r["transfer_s"] <= busy["pe1d"]:
            break
        buffer_bytes *= 2
    else:
        raise ValueError(f"{w.name} at side {side}: DRAM time stays above the 1D compute time "
                         f"up to a {buffer_bytes // 2} B buffer")
    area = area_um2(arch, "artifact")
    return {"accel": "proposal", "model": w.name, "PE_dim": side,
            "traffic": r["traffic_bytes"], "mem_lat": r["transfer_s"],
            "comp_2d_lat": busy["pe2d"], "comp_1d_lat": busy["pe1d"], "latency": r["latency_s"],
            "array_2d_area": area["pe2d"], "area": area["total"], "buffer_bytes": buffer_bytes,
            "accounting": "artifact"}


def published() -> dict[tuple[str, int], dict[str, str]]:
    """Rows of the artifact's pareto.csv keyed by (model, PE_dim)."""
    with open(DATA / "pareto.csv") as f:
        return {(r["model"], int(r["PE_dim"])): r for r in csv.DictReader(f)}


#: pareto.csv columns the reproduction sets beside ours
PUBLISHED = ("traffic", "mem_lat", "comp_2d_lat", "comp_1d_lat", "latency", "array_2d_area",
             "area")


def pareto_rows(models: Iterable[str] = ("bert", "trxl", "t5", "xlm"),
                sides: Iterable[int] = SIDES, progress: Callable[[], None] | None = None
                ) -> list[dict]:
    """The sweep for each model, with the artifact's value of each column where it has one."""
    ref = published()
    base = load_arch("fusemax")
    rows = []
    for key in models:
        w = MODELS[key]
        for side in sides:
            row = pareto_point(w, side, base=base)
            pub = ref.get((w.name, side))
            rows.append(row | {f"published_{c}": float(pub[c]) if pub else None
                               for c in PUBLISHED})
            if progress:
                progress()
    return rows
