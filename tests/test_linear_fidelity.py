"""End-to-end layers: the encoder's projections and FFN as GEMM mappings against the FuseMax
artifact's linear-layer results (studies/data/fusemax/linear_layers.csv, see SOURCE.md), on
FuseMax's and FLAT's hardware. Tolerances as for attention: latency 2%, traffic 1%, energy 5%
(artifact accounting)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from energy import energy_pj, price_list
from mappers.compile import compile_mapping
from mappers.spatial import encoder_linear_layers
from studies.workloads import MODELS, parse_count

DATA = Path(__file__).resolve().parent.parent / "studies" / "data" / "fusemax" / "linear_layers.csv"
ROWS = list(csv.DictReader(DATA.open()))


@pytest.fixture(scope="module")
def hardware():
    out = {}
    for name in ("fusemax", "flat"):
        a = load_arch(name)
        out[name] = (a, ArchArrays.from_arch(a), price_list(a, accounting="artifact"))
    return out


@pytest.mark.parametrize("row", ROWS,
                         ids=lambda r: f"{r['linear_layers_of']}-{r['model']}-{r['seq_len']}")
def test_linear_layers_match_artifact(hardware, row):
    arch, arrays, prices = hardware[row["linear_layers_of"]]
    w = next(m for m in MODELS.values() if m.name == row["model"])
    dram = arrays.levels.index("dram")
    latency = traffic = energy = 0.0
    for m in encoder_linear_layers(w.hidden, w.ffn, w.batch * parse_count(row["seq_len"]),
                                   arch).values():
        r = estimate(arrays, compile_mapping(m, arch, arrays))
        latency += r.latency_s[0]
        traffic += r.read_bytes[0, dram] + r.write_bytes[0, dram]
        energy += energy_pj(prices, r.actions, r.read_bytes, r.write_bytes,
                            r.link_bytes, r.rf_accesses)["total"][0]
    assert latency == pytest.approx(float(row["latency_s"]), rel=0.02)
    assert traffic == pytest.approx(float(row["traffic_bytes"]), rel=0.01)
    assert energy == pytest.approx(float(row["energy_pj"]), rel=0.05)
