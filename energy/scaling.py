"""Scaling energy and area between technology nodes (65 nm to 3 nm), relative to 45 nm.

65 to 7 nm: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS
device performance from 180 nm to 7 nm", Integration 58 (2017) 74-81. Area: their table of area
scaling factors, row 45 nm. Energy: their fitted energy equation E(V) = a V^2 + b V + c per node
(high-performance devices where they give HP and LP), evaluated at the node's nominal supply of
the Predictive Technology Models they are built on; factor = E_node(V_node) / E_45(1.0 V).
Coefficients as transcribed in github wromaszkan/nodeScale and in Accelergy's library plug-in
(the two agree).

5, 4, 3 nm: foundry claims relative to the previous node, chained onto Stillmaker's 7 nm (which
is a PTM prediction, not TSMC N7: the chain assumes they match). These are logic figures; SRAM
bit cells shrink less at 5 and 3 nm, so scaled SRAM area below 7 nm is optimistic.

Between table nodes (e.g. 28 nm, 8 nm) factors are interpolated linearly in log(factor) against
log(node); outside 65..3 nm `scale` refuses with ValueError.
"""

from __future__ import annotations

import math

import numpy as np

STILLMAKER = ("Stillmaker & Baas, Integration 58 (2017) 74-81: area table row 45 nm; energy "
              "a V^2 + b V + c at PTM nominal V")
# node nm: (area relative to 45 nm, nominal V, a, b, c)
_STILLMAKER = {
    65: (1.5, 1.1, 3.755, -4.398, 1.975),
    45: (1.0, 1.0, 1.018, -0.3107, 0.1539),
    32: (0.46, 0.9, 0.8367, -0.4341, 0.1701),
    20: (0.21, 0.9, 0.373, -0.1582, 0.04104),
    16: (0.19, 0.85, 0.2958, -0.1241, 0.03024),
    14: (0.17, 0.8, 0.2363, -0.09675, 0.02239),
    10: (0.10, 0.75, 0.2068, -0.09311, 0.02375),
    7: (0.059, 0.7, 0.1776, -0.09097, 0.02447),
}
# node nm: (from node, density gain, energy ratio, source)
_FOUNDRY = {
    5: (7, 1.8, 0.70, "TSMC N5 announcement (2019): 1.8x logic density and 30% power reduction "
                      "at the same speed versus N7"),
    4: (5, 1.06, 1.0, "estimate: TSMC describes N4 as an N5 enhancement with about 6% higher "
                      "density; energy taken equal to N5 for want of an iso-speed power figure"),
    3: (5, 1.7, 0.725, "TSMC N3 announcement (2020 Technology Symposium): up to 1.7x logic "
                       "density and 25-30% power reduction at the same speed versus N5 (midpoint)"),
}
QUANTITIES = ("energy", "area")


def _table() -> dict[float, tuple[float, float, str]]:
    """Node -> (energy factor, area factor, source), all relative to 45 nm."""
    def energy(nm: int) -> float:
        _, v, a, b, c = _STILLMAKER[nm]
        return a * v * v + b * v + c

    table = {nm: (energy(nm) / energy(45), row[0], STILLMAKER) for nm, row in _STILLMAKER.items()}
    for nm, (base, density, energy_ratio, source) in sorted(_FOUNDRY.items(), reverse=True):
        base_energy, base_area, base_source = table[base]
        table[nm] = (base_energy * energy_ratio, base_area / density, f"{source}; {base_source}")
    return dict(sorted(table.items()))


NODES = _table()


def factor(quantity: str, nm: float) -> float:
    """Energy or area at `nm` relative to 45 nm (log-log interpolated between table nodes)."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
    nodes = sorted(NODES)
    if not nodes[0] <= nm <= nodes[-1]:
        raise ValueError(f"technology {nm:g} nm is outside the scaling table "
                         f"({nodes[0]}..{nodes[-1]} nm: {', '.join(map(str, nodes))})")
    column = QUANTITIES.index(quantity)
    logs = [math.log(NODES[n][column]) for n in nodes]
    return float(np.exp(np.interp(math.log(nm), np.log(nodes), logs)))


def source(nm: float) -> str:
    """Where the factors at `nm` come from (both neighbours when interpolated)."""
    factor("area", nm)  # refuses nodes outside the table
    if nm in NODES:
        return NODES[nm][2]
    below = max(n for n in NODES if n < nm)
    above = min(n for n in NODES if n > nm)
    sources = dict.fromkeys((NODES[above][2], NODES[below][2]))
    return f"interpolated in log-log between {below} and {above} nm: {'; '.join(sources)}"


def scale(value, quantity: str, from_nm: float, to_nm: float):
    """`value` (energy or area, scalar or array) at `from_nm` moved to `to_nm`."""
    return value * (factor(quantity, to_nm) / factor(quantity, from_nm))
