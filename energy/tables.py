"""Per-action energy and per-unit area at 45 nm for 16-bit operands, each entry with its source.

All numbers are the FuseMax artifact's own Accelergy outputs (github
FPSG-UIUC/micro24-fusemax-artifact, commit f543beb), so a FuseMax/FLAT reproduction prices
exactly what the artifact priced. Accelergy builds them from its Aladdin 45 nm tables
(floating-point adder and multiplier, 16-bit: 5-bit exponent), its component library
(comparator, register) and the NeuroSim plug-in (mux, address adders).

For comparison only (not used): Horowitz, "Computing's energy problem", ISSCC 2014, gives
45 nm 16-bit FP add 0.4 pJ and multiply 1.1 pJ, 20x and 8x below the Aladdin numbers here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """A published number: its value, its unit and where it comes from."""

    value: float
    unit: str
    source: str


ARTIFACT = "FuseMax artifact (FPSG-UIUC/micro24-fusemax-artifact f543beb)"
_AE = ARTIFACT + ", workspace/inputs/yamls/area_energy/"
_ERT_1D = _AE + "outputs-1d-fusemax/ERT_summary_verbose.yaml"
_ART_1D = _AE + "outputs-1d-fusemax/ART_summary_verbose.yaml"
_FLAT_1D = _AE + "outputs-1d-flat/"
_MAX_2D = _AE + "outputs-2d-fusemax/"
_EXP = ("exponentiatial unit of FLAT's 1D PE = 5 fpmac + 1 fpmultiplier, a 5th-order Taylor "
        "series (architecture/components/transformer-components.yaml, mac_exponential)")
_DIV = ("custom_divide: Xia et al. 2021, doi:10.3390/app11114988 (90 nm, 32-bit: 550.24 pJ, "
        "542650 um^2; setup/common/custom_pc_2021/custom_divide.csv) as Accelergy priced it at "
        "45 nm")

ACTION_ENERGY_45NM: dict[str, Price] = {
    "mac": Price(17.1645, "pJ", _ERT_1D + ": mac = Aladdin fpadder add 8.3395 + fpmultiplier "
                 "multiply 8.825"),
    "add": Price(8.3395, "pJ", _ERT_1D + ": add = Aladdin fpadder (16-bit)"),
    "mul": Price(8.825, "pJ", _ERT_1D + ": the Aladdin fpmultiplier (16-bit) inside mac; the "
                 "artifact has no stand-alone multiplier unit"),
    "max": Price(0.028036, "pJ", _MAX_2D + "ERT_summary_verbose.yaml: max = comparator 0.014735 "
                 "+ 2-input mux 0.01330062"),
    "exp": Price(94.6475, "pJ", _FLAT_1D + "ERT.yaml: " + _EXP),
    "div": Price(36.251153, "pJ", _ERT_1D + ": divide = " + _DIV),
}

UNIT_AREA_45NM: dict[str, Price] = {
    "mac": Price(1545.0, "um^2", _ART_1D + ": mac = Aladdin fpadder 1030 + fpmultiplier 515"),
    "add": Price(1030.0, "um^2", _ART_1D + ": add = Aladdin fpadder (16-bit)"),
    "mul": Price(515.0, "um^2", _ART_1D + ": the Aladdin fpmultiplier (16-bit) inside mac"),
    "max": Price(49.28944, "um^2", _MAX_2D + "ART_summary_verbose.yaml: max = comparator 35.5 "
                 "+ mux 13.78944"),
    "exp": Price(8240.0, "um^2", _FLAT_1D + "ART.yaml: " + _EXP),
    "div": Price(23740.9375, "um^2", _ART_1D + ": divide = " + _DIV),
}
