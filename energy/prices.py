"""The price list of an architecture and what counts cost with it: energy = counts . prices.

Energy per action, per byte read or written at each memory level, per byte over each link and
per register-file access, as numpy arrays in the architecture's own orders (units(),
memory_levels(), link_names(), OPS), so pricing a batch of estimator results is a few array
products. On-chip prices are 45 nm numbers scaled to the architecture's technology node;
off-chip memories and links are priced per standard, unscaled (energy.offchip). Area sums the
components for iso-area comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.spec import OPS
from energy import scaling
from energy.offchip import LINK_ENERGY, MEMORY_ENERGY, ON_CHIP_CLASSES
from energy.sram import (CACTI_MINIMUM, REGISTER_FILE, REGISTER_FILE_TOLERANCE, SRAM,
                         cacti_minimum, register_file_capacity_bytes, sram_access_pj)
from energy.tables import ACTION_ENERGY_45NM, UNIT_AREA_45NM

ACCOUNTINGS = {
    "complete": "every PE's register-file accesses are priced, and every unit a PE lists has "
                "its area",
    "artifact": "the FuseMax artifact's bookkeeping: register-file energy of ONE PE per compute "
                "unit (its Timeloop counts are per PE and it prices reg_file[1]), i.e. the "
                "total register-file accesses times 1 / lanes; in area, no adder where a PE "
                "has a MAC (workspace/src/accel/cascade.py collect_area: 'Area for adder already "
                "accounted for as a part of the mac') and every register file as the whole "
                "64 x 32-bit array it is padded to (" + CACTI_MINIMUM + "; the Accelergy version "
                "behind the artifact's results left that share at 1)",
}


@dataclass(frozen=True)
class PriceList:
    """Prices of one architecture in its orders; `sources` names the source of every price."""

    accounting: str
    technology_nm: float
    units: tuple[str, ...]
    levels: tuple[str, ...]
    links: tuple[str, ...]
    actions: tuple[str, ...]
    action_pj: np.ndarray                    # [U, A] pJ per action on the unit
    read_pj_per_byte: np.ndarray             # [L]
    write_pj_per_byte: np.ndarray            # [L]
    link_pj_per_byte: np.ndarray             # [K]
    register_file_pj_per_access: np.ndarray  # [U] one access of one word, mean of read and write
    register_file_access_factor: np.ndarray  # [U] share of the counted accesses that is priced
    sources: dict[str, str]


def _check_accounting(accounting: str) -> None:
    """Refuse an unknown accounting by name."""
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"accounting must be one of {tuple(ACCOUNTINGS)}, got {accounting!r}")


def _on_chip_size(name: str, memory) -> tuple[float, int]:
    """Capacity (bytes) and access width (bits) of an on-chip memory, which the SRAM fit needs."""
    if not math.isfinite(memory.capacity_bytes):
        raise ValueError(f"{name}: an on-chip memory ({memory.cls}) needs a capacity to be priced")
    return memory.capacity_bytes, memory.width_bits


def _memory_pj_per_byte(name: str, memory, energy_factor: float, scaled: str,
                        ) -> tuple[float, float, str]:
    """Read and write pJ per byte of one memory level, and their source."""
    if memory.cls in ON_CHIP_CLASSES:
        cap, width = _on_chip_size(name, memory)
        per_byte = energy_factor / (width / 8)
        read, write, source = sram_access_pj(cap, width)
        return (read * per_byte, write * per_byte,
                f"{source}, at {cap:g} B x {width} bits, per {width}-bit access; {scaled}")
    if memory.cls not in MEMORY_ENERGY:
        raise ValueError(f"{name}: no price for memory class {memory.cls!r}")
    price = MEMORY_ENERGY[memory.cls]
    return price.value, price.value, price.source


def _register_file_pj(entries: int, word_bits: int) -> float:
    """Mean of read and write energy of one access to a register file at 45 nm (0 if none)."""
    if entries == 0:
        return 0.0
    cap = register_file_capacity_bytes(entries, word_bits)
    return float(REGISTER_FILE.read_pj(cap, word_bits) + REGISTER_FILE.write_pj(cap, word_bits)) / 2


def price_list(arch, accounting: str = "complete") -> PriceList:
    """Prices of `arch` (an archsim.spec.Architecture) scaled to its technology node."""
    _check_accounting(accounting)
    nm = arch.technology_nm
    energy_factor = scaling.factor("energy", nm)
    scaled = f"scaled 45 -> {nm:g} nm: x{energy_factor:.4g} ({scaling.source(nm)})"
    units, levels, links = arch.units(), arch.memory_levels(), arch.link_names()
    sources = {f"action {a}": f"{ACTION_ENERGY_45NM[a].source}; {scaled}" for a in OPS}

    action_row = np.array([ACTION_ENERGY_45NM[a].value for a in OPS]) * energy_factor
    memory = [_memory_pj_per_byte(m, arch.memories[m], energy_factor, scaled) for m in levels]
    sources |= {f"memory {m}": src for m, (_, _, src) in zip(levels, memory)}
    for k in links:
        if arch.links[k].cls not in LINK_ENERGY:
            raise ValueError(f"{k}: no price for link class {arch.links[k].cls!r}")
        sources[f"link {k}"] = LINK_ENERGY[arch.links[k].cls].source

    computes = [arch.computes[u] for u in units]
    rf_pj = np.array([_register_file_pj(c.register_file_entries, arch.word_bits) for c in computes])
    sources |= {f"register file {u}": (
        f"energy.sram register-file fit (the artifact's Accelergy register files; within "
        f"x{REGISTER_FILE_TOLERANCE['read_pj']} of its points) at {c.register_file_entries} x "
        f"{arch.word_bits} bits, mean of read and write; {scaled}; accounting {accounting!r}: "
        f"{ACCOUNTINGS[accounting]}") for u, c in zip(units, computes) if c.register_file_entries}
    factor = (np.ones(len(units)) if accounting == "complete"
              else np.array([1.0 / c.lanes for c in computes]))
    return PriceList(
        accounting, nm, units, levels, links, tuple(OPS),
        np.tile(action_row, (len(units), 1)),
        np.array([r for r, _, _ in memory], float), np.array([w for _, w, _ in memory], float),
        np.array([LINK_ENERGY[arch.links[k].cls].value for k in links], float),
        rf_pj * energy_factor, factor, sources)


def _counts(name: str, counts, columns: int) -> np.ndarray:
    """`counts` as a float array whose last axis has `columns` entries, or a clear error."""
    arr = np.asarray(counts, float)
    if arr.ndim < 2 or arr.shape[-1] != columns:
        raise ValueError(f"{name}: expected shape [n, {columns}], got {list(arr.shape)}")
    return arr


def energy_pj(prices: PriceList, actions, read_bytes, write_bytes, link_bytes,
              rf_accesses=None) -> dict[str, np.ndarray]:
    """Energy of n mappings from their counts: `total` [n] and its parts by component.

    actions [n, U, A], read_bytes and write_bytes [n, L], link_bytes [n, K], rf_accesses [n, U]
    (accesses of all PEs of the unit together; None: not counted). Parts: compute [n, U],
    read and write [n, L], link [n, K], register_file [n, U].
    """
    U, A = prices.action_pj.shape
    actions = _counts("actions", actions, A)
    if actions.ndim != 3 or actions.shape[1] != U:
        raise ValueError(f"actions: expected shape [n, {U}, {A}], got {list(actions.shape)}")
    parts = {
        "compute": np.einsum("nua,ua->nu", actions, prices.action_pj),
        "read": _counts("read_bytes", read_bytes, len(prices.levels)) * prices.read_pj_per_byte,
        "write": _counts("write_bytes", write_bytes, len(prices.levels)) * prices.write_pj_per_byte,
        "link": _counts("link_bytes", link_bytes, len(prices.links)) * prices.link_pj_per_byte,
        "register_file": (np.zeros((len(actions), U)) if rf_accesses is None else
                          _counts("rf_accesses", rf_accesses, U)
                          * prices.register_file_pj_per_access
                          * prices.register_file_access_factor),
    }
    return {"total": sum(p.sum(axis=1) for p in parts.values())} | parts


def _pe_area_45nm(units: tuple[str, ...], entries: int, word_bits: int, accounting: str) -> float:
    """Area of one PE at 45 nm: its functional units and its register file."""
    unknown = [u for u in units if u not in UNIT_AREA_45NM]
    if unknown:
        raise ValueError(f"no area for unit(s) {unknown}; units are among {tuple(UNIT_AREA_45NM)}")
    priced = [u for u in units
              if not (accounting == "artifact" and u == "add" and "mac" in units)]
    area = sum(UNIT_AREA_45NM[u].value for u in priced)
    if entries:
        rows, width = ((entries, word_bits) if accounting == "complete"
                       else cacti_minimum(entries, word_bits))
        area += float(REGISTER_FILE.area_um2(register_file_capacity_bytes(rows, width), width))
    return area


def area_um2(arch, accounting: str = "complete") -> dict[str, float]:
    """Area (um^2) of every compute unit and memory of `arch` at its node, and their `total`.

    A compute unit: lanes (count x PEs) x (its `units` + its register file). An on-chip memory:
    count x the SRAM fit at its capacity and width. Off-chip memories and links: 0.
    """
    _check_accounting(accounting)
    area_factor = scaling.factor("area", arch.technology_nm)
    areas = {}
    for name in arch.units():
        c = arch.computes[name]
        pe = _pe_area_45nm(tuple(c.units), c.register_file_entries, arch.word_bits, accounting)
        areas[name] = c.lanes * pe * area_factor
    for name in arch.memory_levels():
        m = arch.memories[name]
        areas[name] = (m.count * float(SRAM.area_um2(*_on_chip_size(name, m))) * area_factor
                       if m.cls in ON_CHIP_CLASSES else 0.0)
    return areas | {"total": sum(areas.values())}
