"""Workload models and sequence-length parsing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from studies.workloads import MODELS, label, model, parse_count, parse_counts

DATA = Path(__file__).resolve().parent.parent / "studies" / "data" / "fusemax"


def test_counts_and_ranges():
    assert parse_count("64K") == 65536 and parse_count("1m") == 1 << 20 and parse_count("7") == 7
    assert parse_counts("1K..1M*4") == [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20]
    assert parse_counts("1K,4K") == [1024, 4096]
    assert [label(n) for n in parse_counts("1K..1M*4")] == ["1K", "4K", "16K", "64K", "256K", "1M"]


@pytest.mark.parametrize("bad", ["", "abc", "0", "-4K", "1K..1M", "1M..1K*4", "1K..1M*1"])
def test_bad_counts_say_what_was_expected(bad):
    with pytest.raises(ValueError, match="expected|range"):
        parse_counts(bad)


def test_models_match_reference_data():
    assert model("BERT").heads == 12 and model("xlm").head_dim == 128
    with pytest.raises(ValueError, match="models: bert"):
        model("gpt5")
    with open(DATA / "flat_configurations.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["platform"] == "cloud"]
    for r in rows:
        w = MODELS[r["models"].lower()]
        assert (w.batch, w.heads, w.head_dim, w.hidden, w.ffn) == (
            int(r["B"]), int(r["H"]), int(r["E"]), int(r["D"]), int(r["S"]))
