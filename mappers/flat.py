"""Hand mappings of attention on FLAT's hardware (FuseMax paper, MICRO 2024, Sec. VI).

- `cascade`: the 1-pass cascade on FLAT's arrays: only the two matmuls (BQK, SLNV) on the 2D
  array; the running max, exponentials and sums on the 1D array, whose PEs walk each column of
  scores in time (LM, SLN, SLD run their M0 loop in time); the scores and exponentials wait in
  the buffer (the 1D array reads them back), the column maxima and sums are taken as the
  results stream in.
- `flat`: FLAT (Kao et al., ASPLOS 2023): the 3-pass cascade fused per block of P1 query rows
  (`row` granularity) or per head (`head`): QK on the 2D array fills a P1 x M block of scores
  in the buffer, the 1D array runs the softmax over it in place, AV on the 2D array reads it
  back. Its configuration (what is on chip, stationarity, granularity, P1) is an input: the
  FuseMax artifact's table `studies/data/fusemax/flat_configurations.csv`, or for a workload the
  table lacks, the rule `flat_configuration` states (the table's regularities). A score block
  larger than the buffer spills the share that does not fit to DRAM.
Each is a general Mapping scored by the common estimator; nothing here computes a latency.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from einsum_cascades import load

from .mapping import IN_PES, EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError, Stage
from .plain import costs, resident_bytes
from .search import fused_stages
from .spatial import array_side, first_fitting, one_pass_on_arrays

#: 1-pass Einsums on the 2D array when the 1D array is FLAT's (FuseMax paper Sec. VI-A: the
#: "cascade" baseline runs only the matmuls on the 2D array)
CASCADE_2D = ("BQK", "SLNV")
#: the scores and their exponentials wait in the buffer for the 1D array (it walks a column of
#: them per PE), the running state too; the per-row reductions and the correction factors
#: stay in the PEs
CASCADE_KEEP = {"*": "global_buffer"} | {t: IN_PES for t in (
    "LM", "SLD", "SLNV", "PRM", "SPD", "SPNV")}
#: the column max takes the scores as they leave the 2D array, the row sum the exponentials as
#: they leave the exp units (FuseMax artifact flat_pe_proposal.py: LM and SLD read them at the
#: register files, docs/fusemax-artifact-model.md section 4)
CASCADE_FORWARD = {"BQK": ("LM",), "SLN": ("SLD",)}
#: Einsums of the 2D array's tile the 1D array reduces one PE per column, in time
CASCADE_SERIAL = ("LM", "SLN", "SLD")

#: artifact-compatible switches of the `cascade` design (FuseMax artifact f543beb,
#: src/accel/flat_pe_proposal.py; docs/fusemax-artifact-model.md section 4), each a deviation of
#: the artifact from its own FLAT hardware, applied only when asked for (the reproduction):
#: - the exponentials of SLN and PRM cost 2 cycles (exp 1 + add 1), where FLAT's own softmax
#:   takes one per element on the same 1D array, and no exp energy (its compute_cost key
#:   'exponential' misses the accumulator's misspelt 'exponentiatial', so only the add is
#:   charged);
#: - P1 is sized for a 16 MiB buffer (the artifact's default l3_sz) while the energy is priced
#:   with FLAT's 32 MiB one.
CASCADE_ARTIFACT_OVERRIDES = ("pe1d.ops.exp.cycles=2", "pe1d.ops.exp.actions={add: 1}")
CASCADE_ARTIFACT_SIZING = ("global_buffer.capacity=16MiB",)


def cascade(head_dim: int, seq: int, instances: int, arch, artifact: bool = False) -> Mapping:
    """The 1-pass cascade on FLAT's hardware; `artifact` sizes P1 for the artifact's 16 MiB
    buffer (run it on `arch.with_overrides(CASCADE_ARTIFACT_OVERRIDES)` for its exp costs)."""
    c = load("one_pass")
    sizing = arch.with_overrides(CASCADE_ARTIFACT_SIZING) if artifact else None
    return one_pass_on_arrays(c, head_dim, seq, instances, arch, CASCADE_2D, CASCADE_KEEP,
                              fused_stages(c), serial=CASCADE_SERIAL, forward=CASCADE_FORWARD,
                              sizing=sizing)


TABLE = Path(__file__).resolve().parent.parent / "studies" / "data" / "fusemax" / \
    "flat_configurations.csv"
#: the table's platform whose hardware is the `flat` preset (256 x 256 PEs, 32 MiB buffer)
CLOUD = (256, 32 * 2**20)
#: FLAT's loop order per stationarity, innermost rank first (FuseMax artifact flat.py:
#: QK output EMP, weight PEM, input MEP; AV output MFP, weight PFM, input FMP)
ORDERS = {"QK": {"output": "emp", "weight": "pem", "input": "mep"},
          "AV": {"output": "mfp", "weight": "pfm", "input": "fmp"}}


@dataclass(frozen=True)
class FlatConfig:
    """FLAT's dataflow for one workload: fusion granularity, query rows per block (P1), which
    of Q, K, QK, A, V, AV stay on chip, the stationarity of each matmul, and where it came
    from (`table` or `rule`)."""

    granularity: str
    p1: int
    on_chip: frozenset[str]
    qk_stationarity: str
    av_stationarity: str
    source: str


def flat_configuration(batch: int, heads: int, head_dim: int, seq: int, arch) -> FlatConfig:
    """The row of the artifact's FLAT table for this workload on the cloud hardware, else the
    rule its rows follow (`flat_rule`)."""
    side = array_side(arch)
    capacity = arch.memories["global_buffer"].capacity_bytes
    if (side, capacity) == CLOUD:
        for r in _table():
            if (int(r["B"]), int(r["H"]), int(r["E"]), int(r["F"]), int(r["M"]), int(r["P"])) \
                    == (batch, heads, head_dim, head_dim, seq, seq):
                p1 = seq if r["fusion_granularity"] == "head" else int(r["P1"])
                return FlatConfig(r["fusion_granularity"], p1, frozenset(
                    t for t in ("Q", "K", "QK", "A", "V", "AV") if r[f"{t}_loc"] == "onchip"),
                    r["QK_stationarity"], r["AV_stationarity"], "table")
    return flat_rule(seq, arch)


def flat_rule(seq: int, arch) -> FlatConfig:
    """The regularities of the artifact's cloud FLAT table (docs/fusemax-artifact-model.md
    section 5.1), in terms of the buffer capacity C, the array side p and the word w:
    - head granularity (P1 = P) while a head's scores fit, P·M·w <= C;
    - else row granularity, P1 the largest power of two with P1·M·w <= C, within [p, 4p];
    - the score block on chip (QK, A) unless even p rows are over twice the buffer; then
      QK and A go through DRAM in blocks of P1 = 4p, with Q and AV held on chip;
    - output-stationary matmuls with the scores on chip, weight-stationary without.
    It reproduces every cloud row's granularity, P1, stationarity and QK/A placement; the
    table's Q on chip at 128K and AV on chip at 64K (search outcomes) are not in the rule."""
    side = array_side(arch)
    capacity = arch.memories["global_buffer"].capacity_bytes
    w = arch.word_bits // 8
    if seq * seq * w <= capacity:
        return FlatConfig("head", seq, frozenset({"QK", "A"}), "output", "output", "rule")
    if side * seq * w > 2 * capacity:
        return FlatConfig("row", min(4 * side, seq), frozenset({"Q", "AV"}), "weight", "weight",
                          "rule")
    p1 = side
    while 2 * p1 <= min(4 * side, seq) and 2 * p1 * seq * w <= capacity:
        p1 *= 2
    return FlatConfig("row", p1, frozenset({"QK", "A"}), "output", "output", "rule")


def spill_share(config: FlatConfig, seq: int, arch) -> float:
    """Share of FLAT's on-chip score block that does not fit the buffer: the P1 x M block
    plus a staging allowance of two p x p tiles (4·p² bytes at 16 bits, the artifact table's
    allowance), against the buffer capacity (docs/fusemax-artifact-model.md section 5.1)."""
    if "QK" not in config.on_chip:
        return 0.0
    side = array_side(arch)
    w = arch.word_bits // 8
    need = config.p1 * seq * w + 2 * side * side * w
    return 1.0 - min(1.0, arch.memories["global_buffer"].capacity_bytes / need)


def flat(head_dim: int, seq: int, instances: int, arch, config: FlatConfig) -> Mapping:
    """FLAT's mapping of the 3-pass cascade under `config` (see `flat_configuration`): per
    block of P1 query rows, QK on the 2D array, the softmax row by row on the 1D array, in
    place over the scores (the row sum takes the exponentials as they are made), AV on the 2D
    array; tensors off chip
    stream past the buffer. All six Einsums form one pipelined stage. The on-chip tensors
    spill the share `spill_share` says to DRAM, or more if the resident bytes need it."""
    c = load("three_pass")
    side = array_side(arch)
    if seq % side or seq % config.p1 or config.p1 % min(side, config.p1):
        raise MappingError(f"sequence length {seq} and P1 {config.p1} must be multiples of the "
                           f"array side {side}")
    buffer = "global_buffer"
    shapes = {"e": head_dim, "f": head_dim, "m": seq, "p": seq}
    extent = {"e": head_dim, "f": head_dim, "m": seq, "p": config.p1}
    on = config.on_chip

    def matmul(key: str, stationarity: str, streamed: tuple[str, ...]) -> EinsumMapping:
        inner, mid, outer = ORDERS[key][stationarity]
        sp = {r: min(side, extent[r]) for r in (mid, outer)}
        loops = (Loop(outer, extent[outer] // sp[outer]), Loop(mid, extent[mid] // sp[mid]),
                 Loop(inner, extent[inner]), Loop(mid, sp[mid], True),
                 Loop(outer, sp[outer], True))
        return EinsumMapping(key, "pe2d", (Level("dram", (Loop("p", seq // config.p1),)),
                                           Level(buffer, loops)),
                             {t: (buffer,) for t in streamed if t not in on})

    row = (Level("dram", (Loop("p", seq),)),
           Level(buffer, (Loop("m", seq // side), Loop("m", side, True))))
    softmax = ("GM", "SN", "SD", "A")
    ems = (matmul("QK", config.qk_stationarity, ("Q", "K", "QK")),) + tuple(
        EinsumMapping(k, "pe1d", row, {"A": (buffer,)} if k == "A" and "A" not in on else {})
        for k in softmax) + (matmul("AV", config.av_stationarity, ("A", "V", "AV")),)
    kept = {t: buffer for t in ("GM", "SN", "SD")} | (
        {t: buffer for t in ("QK", "A")} if "QK" in on else {})
    stage_in = {} if "QK" in on else {"QK": buffer}  # the row max brings a row in for the exp

    def mapping(share: float) -> Mapping:
        spill = {t: (buffer, share) for t in kept} if share > 0 else {}
        group = FusionGroup(tuple(em.einsum for em in ems), kept, stage_in, {"SN": ("SD",)},
                            spill, {"SN": "QK", "A": "QK"})
        return Mapping(c, shapes, ems, (group,), (Stage(tuple(em.einsum for em in ems),
                                                        "pipelined", 0),), instances)

    def candidates() -> Iterator[Mapping]:
        yield mapping(spill_share(config, seq, arch))
        yield mapping(_share_to_fit(mapping, buffer, arch))  # only when the first does not fit

    return first_fitting(candidates(), arch, f"FLAT block of P1={config.p1} rows at M={seq}")


def _share_to_fit(mapping: Callable[[float], Mapping], level: str, arch) -> float:
    """The smallest uniform spill share with which the resident bytes at `level` (the
    estimator's capacity rule, `resident_bytes`) fit it, for blocks whose softmax rows exceed
    the staging allowance. Every tile there is fixed or a spilled tile times (1 - share), so
    the resident bytes are a maximum of lines in the share (convex): the chord from share 0 to
    share 1 meets the capacity at a share that fits, and the smallest where they are one line,
    as on every FLAT configuration (tests/test_flat_fidelity.py checks it)."""
    capacity = arch.memories[level].capacity_bytes
    full, least = (resident_bytes(costs(mapping(s), arch)).get(level, 0.0) for s in (0.0, 1.0))
    if full <= capacity:
        return 0.0
    if least >= capacity:
        return 1.0  # all of them spilled; if the rest still overflows, first_fitting refuses
    return (full - capacity) / (full - least)


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, str], ...]:
    """The cloud rows of the artifact's FLAT configuration table."""
    with open(TABLE) as f:
        return tuple(r for r in csv.DictReader(f) if r["platform"] == "cloud")
