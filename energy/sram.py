"""SRAM and register-file energy per access and area at 45 nm as power laws of capacity and width.

Functional form, for each of read energy, write energy and area:

    y = exp(c0) * capacity_bytes**c1 * width_bits**c2

fitted by least squares on log y to the points below (c0, c1, c2 come from the table at import,
so the table is the only data). Area is therefore a per-bit cost times an overhead that
depends on the array's shape: y / (8 * capacity) = exp(c0) * capacity**(c1 - 1) * width**c2 / 8.

SRAM points: CACTI 7.0 runs at 45 nm with the configuration of the Accelergy CACTI plug-in that
the FuseMax artifact used; that configuration reproduces the artifact's CACTI outputs exactly
(see ARTIFACT_BUFFER). CACTI's search over array organisations makes its outputs bumpy, so the
fit is within a factor SRAM_TOLERANCE of every point (not better); its error at the FuseMax
buffer (16 MiB x 4096 bits) is -18% (read), -8% (write), -13% (area). Pricing therefore takes
the access energies of a measured array where one exists at exactly the asked capacity and
width (`sram_access_pj`), and the fit elsewhere.

Register-file points: the artifact's own Accelergy register files (flip-flop arrays from the
Aladdin register and comparator tables); within REGISTER_FILE_TOLERANCE of every point. Three
parameters on four points (4 to 64 entries, 16 to 64 bits): larger register files are an
extrapolation. Memories of class `registers` (e.g. a GPU's 256 KB register file, which is banked
SRAM) are priced by the SRAM fit; this one prices the per-PE `register_file_entries`.

Cross-check (independent of the fit): Horowitz, ISSCC 2014, 45 nm 64-bit SRAM reads of
8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ; the fit gives 6.2, 13.4 and 89 pJ (HOROWITZ_SRAM_READ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from energy.tables import ARTIFACT

KiB, MiB = 1024, 1024 * 1024


class Point(NamedTuple):
    """One measured or modelled storage array: its size, access energies, area and source."""

    capacity_bytes: float
    width_bits: float
    read_pj: float
    write_pj: float
    area_um2: float
    source: str


CACTI = ("CACTI 7.0 (github HewlettPackard/cacti 1ffd8df) at 45 nm, run with the Accelergy CACTI "
         "plug-in's default_cfg.cfg (accelergy-cacti-plug-in 0f3876e: RAM, itrs-lstp cells and "
         "periphery, design objective 0:0:1000000:0:0, 1 read-write port, 1 bank); 'Dynamic "
         "read/write energy' and 'Area' of the .out file. Arrays of >= 512 rows and <= 4096 bits: "
         "below 512 rows or above 4096 bits CACTI's organisation search degenerates (e.g. 64 KiB "
         "x 8192 bits costs 9.2 nJ, as much as 1 MiB x 8192 bits)")
ARTIFACT_BUFFER = (ARTIFACT + ", workspace/inputs/yamls/area_energy/outputs-2d-fusemax/"
                   "ERT_summary_verbose.yaml and ART_summary_verbose.yaml: global_buffer storage "
                   "(CactiSRAM) of 4194304 rows x 64 bits, 1 port; the CACTI configuration of "
                   "this table reproduces it exactly")
ARTIFACT_PARETO = (" (also the FuseMax artifact's 256x256 Pareto point: pareto.csv area - "
                   "array_2d_area - 1D array = 2.141 mm^2 for this 256 KiB x 4096-bit buffer)")

# (capacity, access width in bits, read pJ, write pJ, area um^2) per access of the whole width
_CACTI_GRID = (
    (4 * KiB, 32, 2.86168, 3.73221, 13180.6),
    (4 * KiB, 64, 3.38552, 6.45356, 13502.9),
    (16 * KiB, 32, 9.97801, 6.86756, 50017.7),
    (16 * KiB, 64, 11.6097, 10.6968, 50742),
    (16 * KiB, 128, 10.7481, 23.2224, 50649.4),
    (16 * KiB, 256, 14.3158, 44.5186, 53741.5),
    (64 * KiB, 32, 17.8039, 13.4688, 238696),
    (64 * KiB, 64, 25.8695, 19.6486, 209046),
    (64 * KiB, 128, 39.332, 36.0435, 187953),
    (64 * KiB, 256, 51.7987, 66.2387, 198942),
    (64 * KiB, 512, 76.7312, 126.628, 221984),
    (64 * KiB, 1024, 126.605, 247.417, 268744),
    (256 * KiB, 32, 32.9192, 24.4175, 821620),
    (256 * KiB, 64, 44.7157, 38.4949, 872093),
    (256 * KiB, 128, 76.1191, 63.6773, 887609),
    (256 * KiB, 256, 124.61, 118.033, 859765),
    (256 * KiB, 512, 199.379, 228.259, 1.03866e+06),
    (256 * KiB, 1024, 289.557, 490.763, 858575),
    (256 * KiB, 2048, 484.236, 970.285, 1.04238e+06),
    (1 * MiB, 32, 68.3604, 49.0763, 3.15278e+06),
    (1 * MiB, 64, 93.5192, 76.1829, 3.26283e+06),
    (1 * MiB, 128, 153.433, 129.128, 3.24735e+06),
    (1 * MiB, 256, 251.863, 245.286, 3.67635e+06),
    (1 * MiB, 512, 434.067, 492.85, 3.95301e+06),
    (1 * MiB, 1024, 753.784, 871.35, 4.05413e+06),
    (1 * MiB, 2048, 1124.79, 1932.85, 3.37622e+06),
    (1 * MiB, 4096, 1893.86, 3843.67, 4.10488e+06),
    (4 * MiB, 32, 121.131, 101.514, 1.23684e+07),
    (4 * MiB, 64, 188.734, 155.065, 1.1989e+07),
    (4 * MiB, 128, 299.928, 275.289, 1.27788e+07),
    (4 * MiB, 256, 521.724, 472.447, 1.3623e+07),
    (4 * MiB, 512, 939.941, 915.086, 1.42597e+07),
    (4 * MiB, 1024, 1797, 1914.57, 1.81856e+07),
    (4 * MiB, 2048, 3178.64, 3986.7, 2.12148e+07),
    (4 * MiB, 4096, 4932.36, 8837.58, 2.36599e+07),
    (16 * MiB, 32, 221.793, 204.959, 4.7386e+07),
    (16 * MiB, 64, 351.272, 317.603, 4.74069e+07),
    (16 * MiB, 128, 588.096, 562.791, 4.99298e+07),
    (16 * MiB, 256, 1070.57, 1058.14, 5.11146e+07),
    (16 * MiB, 512, 2032.64, 2007.79, 5.6052e+07),
    (16 * MiB, 1024, 4138.08, 4375.87, 6.33735e+07),
    (16 * MiB, 2048, 8238.57, 9860.01, 7.53952e+07),
    (16 * MiB, 4096, 12512.7, 15751.4, 8.42012e+07),
    (64 * MiB, 32, 594.17, 560.669, 1.8344e+08),
    (64 * MiB, 64, 681.168, 647.498, 1.87823e+08),
    (64 * MiB, 128, 1159.68, 1110.65, 1.86131e+08),
    (64 * MiB, 256, 2140.38, 2042.31, 1.93449e+08),
    (64 * MiB, 512, 4202, 4149.63, 2.03165e+08),
    (64 * MiB, 1024, 8243.71, 8720.73, 2.18647e+08),
    (64 * MiB, 2048, 17368.3, 20616.5, 2.57251e+08),
    (64 * MiB, 4096, 32470.6, 38958.6, 2.99061e+08),
)

SRAM_POINTS: tuple[Point, ...] = (
    *(Point(*row, CACTI) for row in _CACTI_GRID),
    Point(256 * KiB, 4096, 1652.56, 2120.07, 2.14093e+06, CACTI + ARTIFACT_PARETO),
    Point(32 * MiB, 64, 484.884, 451.214, 94176000.0, ARTIFACT_BUFFER),
)

_RF = ARTIFACT + ", workspace/"
_AE = _RF + "inputs/yamls/area_energy/outputs-"
# capacity = entries x width / 8; energies and areas include the two address adders
REGISTER_FILE_POINTS: tuple[Point, ...] = (
    Point(4 * 64 / 8, 64, 0.291512, 0.225259, 1838.14968,
          _AE + "2d-flat/{ERT,ART}.yaml: FLAT 2D reg_file, 4 x 64 bits"),
    Point(16 * 16 / 8, 16, 0.385026, 0.336188, 2145.41936,
          _AE + "1d-flat/{ERT,ART}.yaml: FLAT 1D reg_file, 16 x 16 bits"),
    Point(32 * 16 / 8, 16, 0.653431, 0.56957, 4255.9342,
          _AE + "1d-fusemax/{ERT,ART}.yaml: FuseMax 1D reg_file, 32 x 16 bits"),
    Point(64 * 32 / 8, 32, 2.194455, 1.906455, 16849.2142,
          _RF + "outputs/pregenerated-check/accelergy_{energy/ERT,area/ART}.yaml: a 32 x 16 "
          "reg_file that this Accelergy version priced as the whole 64 x 32-bit array it pads to "
          "(area_scale 1); its 5-bit address adders are those of 32 entries, < 0.1% of the total"),
)

# cross-check only: M. Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm 64-bit reads
HOROWITZ_SRAM_READ = ((8 * 1000, 64, 10.0), (32 * 1000, 64, 20.0), (1000 * 1000, 64, 100.0))

CACTI_MIN_ROWS, CACTI_MIN_WIDTH_BITS = 64, 32
CACTI_MINIMUM = (ARTIFACT + ", workspace/inputs/yamls/area_energy/architecture/components/"
                 "smartbuffer_RF.yaml: 'CACTI requires >= 4B wide and >= 64 entries deep', so a "
                 "smaller register file is priced as a 64 x 32-bit array, scaled down by its share")


@dataclass(frozen=True)
class PowerLaw:
    """y = exp(c0) * capacity_bytes**c1 * width_bits**c2; vectorised over numpy arrays."""

    coef: tuple[float, float, float]

    @classmethod
    def fit(cls, points: tuple[Point, ...], field: str) -> PowerLaw:
        """Least squares on log y over `points` for one of read_pj, write_pj, area_um2."""
        x = np.array([[1.0, math.log(p.capacity_bytes), math.log(p.width_bits)] for p in points])
        y = np.log([getattr(p, field) for p in points])
        c0, c1, c2 = np.linalg.lstsq(x, y, rcond=None)[0]
        return cls((float(c0), float(c1), float(c2)))

    def __call__(self, capacity_bytes, width_bits):
        """The fitted value at the given capacity (bytes) and access width (bits)."""
        c0, c1, c2 = self.coef
        return np.exp(c0) * np.power(capacity_bytes, c1) * np.power(width_bits, c2)


@dataclass(frozen=True)
class AccessFit:
    """Read and write energy per access (pJ) and area (um^2) of a storage array, by power laws."""

    points: tuple[Point, ...]
    read_pj: PowerLaw
    write_pj: PowerLaw
    area_um2: PowerLaw

    @classmethod
    def of(cls, points: tuple[Point, ...]) -> AccessFit:
        """Fit the three power laws to `points`."""
        return cls(points, *(PowerLaw.fit(points, f) for f in ("read_pj", "write_pj", "area_um2")))

    def worst_factor(self, field: str) -> float:
        """The largest ratio, either way round, between the fit and a point of its own table."""
        law: PowerLaw = getattr(self, field)
        got = np.array([law(p.capacity_bytes, p.width_bits) for p in self.points])
        want = np.array([getattr(p, field) for p in self.points])
        return float(np.exp(np.abs(np.log(got / want)).max()))


SRAM = AccessFit.of(SRAM_POINTS)

#: access energies (read, write pJ per access of the whole width) measured at an exact array,
#: which pricing prefers to the fit: every SRAM point, and the FLAT-family buffer of the
#: artifact's results (its area is not known, so it is not a fit point)
SRAM_ENERGY_POINTS: dict[tuple[float, float], tuple[float, float, str]] = {
    (p.capacity_bytes, p.width_bits): (p.read_pj, p.write_pj, p.source) for p in SRAM_POINTS
} | {(32 * MiB, 4096): (23854.664592, 27097.564592, ARTIFACT + " re-run (docs/fusemax-artifact-"
                        "model.md section 7): Accelergy ERT of the global buffer, 65536 rows x "
                        "4096 bits, CACTI 7.0 via the pinned plug-in plus two address adders")}


def sram_access_pj(capacity_bytes: float, width_bits: float) -> tuple[float, float, str]:
    """Read and write pJ per access of an SRAM and their source: a measured point where one
    exists at exactly this capacity and width, else the fit (whose error at a point can reach
    SRAM_TOLERANCE, -37% in read energy at 32 MiB x 4096 bits)."""
    point = SRAM_ENERGY_POINTS.get((float(capacity_bytes), float(width_bits)))
    if point is not None:
        return point[0], point[1], "measured point: " + point[2]
    return (float(SRAM.read_pj(capacity_bytes, width_bits)),
            float(SRAM.write_pj(capacity_bytes, width_bits)),
            f"energy.sram SRAM fit (CACTI 7.0 at 45 nm in the artifact's Accelergy "
            f"configuration; within x{SRAM_TOLERANCE['read_pj']} of its points)")
REGISTER_FILE = AccessFit.of(REGISTER_FILE_POINTS)
# the worst factor each fit achieves on its own points, rounded up (tests/test_energy.py checks it)
SRAM_TOLERANCE = {"read_pj": 1.9, "write_pj": 1.6, "area_um2": 1.75}
REGISTER_FILE_TOLERANCE = {"read_pj": 1.06, "write_pj": 1.07, "area_um2": 1.02}


def register_file_capacity_bytes(entries, width_bits):
    """Bytes held by a register file of `entries` words of `width_bits`."""
    return np.asarray(entries) * np.asarray(width_bits) / 8


def cacti_minimum(entries, width_bits) -> tuple[np.ndarray, np.ndarray]:
    """The 64-entry x 32-bit array (at least) that the artifact's register files are padded to."""
    return np.maximum(entries, CACTI_MIN_ROWS), np.maximum(width_bits, CACTI_MIN_WIDTH_BITS)
