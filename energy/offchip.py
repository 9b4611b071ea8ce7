"""Energy per byte of off-chip memory classes and of links, each with its source or reasoning.

These are device/interface figures of a memory standard or a link PHY, not of a logic process,
so they are not scaled with the architecture's technology node. Entries marked "estimate" have
no direct published per-bit figure; their reasoning is in the source.
"""

from __future__ import annotations

from energy.tables import ARTIFACT, Price

ON_CHIP_CLASSES = ("sram", "registers")  # priced by energy.sram from capacity and width


def _per_bit(pj_per_bit: float, source: str) -> Price:
    """A pJ/bit figure as pJ per byte."""
    return Price(8 * pj_per_bit, "pJ/B", f"{pj_per_bit} pJ/bit: {source}")


_HBM2 = ("O'Connor, Chatterjee et al., 'Fine-Grained DRAM', MICRO 2017: HBM2 about 3.9 pJ/bit "
         "including activation, on-die movement and I/O (the value Accelergy's CactiDRAM uses "
         "for type HBM2)")
_CARRIED = ("estimate: no per-bit energy is published for {0}; the {1} figure is carried "
            "forward, an upper bound if the newer generation is more efficient ({2})")

MEMORY_ENERGY: dict[str, Price] = {
    "dram": _per_bit(3.9, ARTIFACT + ": DRAM class DRAM type HBM2, width 64, priced by "
                     "Accelergy CactiDRAM at 249.6 pJ per 64-bit access (outputs-2d-fusemax/"
                     "ERT_summary_verbose.yaml); " + _HBM2),
    "hbm2e": _per_bit(3.9, _CARRIED.format("HBM2E", "HBM2", _HBM2)),
    "hbm3": _per_bit(3.9, _CARRIED.format("HBM3", "HBM2", _HBM2)),
    "hbm3e": _per_bit(3.9, _CARRIED.format(
        "HBM3E", "HBM2", _HBM2 + "; Micron states only relative figures, e.g. HBM3E with 30% "
        "lower power than competitors'")),
    "gddr6": _per_bit(7.5, "Micron technical brief 'Doubling I/O Performance with PAM4' (2020), "
                      "as reported by AnandTech (anandtech.com/show/15978): GDDR6 7.5 pJ/bit, "
                      "GDDR6X 7.25 pJ/bit, device energy"),
    "ddr4": _per_bit(15.0, "estimate: DDR4 system figures including I/O and termination are "
                     "usually given as 15-20 pJ/bit; the low end, since DDR3 at 1.5 V is 70 "
                     "pJ/bit only at low utilisation with background power (Malladi et al., ISCA "
                     "2012, as tabulated in Accelergy's CactiDRAM)"),
    "lpddr5": _per_bit(8.0, _CARRIED.format("LPDDR5", "LPDDR4", "8 pJ/bit, Accelergy CactiDRAM "
                                            "type LPDDR4, 'public data'")),
    "nand": Price(300.0, "pJ/B", "estimate from typical ONFI TLC datasheet values: array read "
                  "VCC 3.3 V x ~25 mA x tR ~50 us per 16 KiB page = 0.25 nJ/B, plus channel I/O "
                  "at ~5 pJ/bit = 0.04 nJ/B; flash read only, not the SSD controller"),
}

_SERDES = ("estimate: typical published SerDes PHY efficiency (transmitter + receiver) of about "
           "5 pJ/bit for {0}; controller, switch and the memories at both ends are priced "
           "separately")

LINK_ENERGY: dict[str, Price] = {
    "pcie3": _per_bit(5.0, _SERDES.format("PCIe at 8 GT/s")),
    "pcie4": _per_bit(5.0, _SERDES.format("PCIe at 16 GT/s")),
    "pcie5": _per_bit(5.0, _SERDES.format("PCIe at 32 GT/s")),
    "nvlink4": _per_bit(5.0, _SERDES.format("NVLink 4 (100 Gb/s PAM4 lanes)")),
    "onchip": _per_bit(1.0, "estimate: on-chip wires cost about 0.1 pJ/bit/mm (order of magnitude "
                       "given by Keckler, Dally et al., 'GPUs and the future of parallel "
                       "computing', IEEE Micro 2011) over an assumed 10 mm across a die"),
}
