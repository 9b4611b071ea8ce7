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
from dataclasses import dataclass
from pathlib import Path

from einsum_cascades import load

from .mapping import IN_PES, EinsumMapping, FusionGroup, Level, Loop, Mapping, MappingError, Stage
from .search import fused_stages
from .spatial import first_fitting, one_pass_on_arrays

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
