"""`attnsim evaluate` on storage presets and `attnsim reproduce instinfer`: JSON fields, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from studies.cli import app

runner = CliRunner()
BASE = ["evaluate", "--arch", "instinfer_csd", "--model", "opt-13b", "--phase", "decode",
        "--batch", "64", "--context", "2048"]


def test_evaluate_json_has_throughput_split_and_assumptions():
    r = runner.invoke(app, BASE + ["--system", "flexgen", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert {"system", "model", "batch", "drives", "tokens_per_s", "oom", "latency_s", "split_s",
            "busy_s", "assumptions", "overlap"} <= set(d)
    assert d["tokens_per_s"] == pytest.approx(64 / d["latency_s"])
    assert d["ideal_s"] <= d["latency_s"] and d["transfer_s"] <= d["latency_s"]
    assert "ssd_pcie_x4" in d["busy_s"] and d["assumptions"]


def test_evaluate_table_and_drives():
    r = runner.invoke(app, BASE + ["--drives", "4"])
    assert r.exit_code == 0, r.output
    assert "instinfer" in r.output and "4 drive(s)" in r.output and "tokens/s" in r.output
    oom = runner.invoke(app, BASE + ["--system", "gpu"])
    assert oom.exit_code == 0 and "out of memory: weights 25.7 GB + KV cache" in oom.output


@pytest.mark.parametrize("args, words", [
    (BASE + ["--system", "magic"], "unknown system 'magic'"),
    (BASE + ["--drives", "0"], "--drives"),
    (BASE + ["--mapper", "fa3"], "--mapper: not for a storage architecture"),
    (["evaluate", "--arch", "instinfer_csd", "--model", "opt-13b"], "give --context"),
    (BASE + ["--phase", "prefill"], "decode phase only"),
    (["evaluate", "--arch", "instinfer_csd", "--context", "16"], "give --model"),
    (["evaluate", "--model", "bert", "--seq", "1K", "--system", "gpu"], "need a storage"),
    (["evaluate", "--model", "bert"], "give --seq"),
    (BASE + ["--set", "substrate=storage", "--arch", "a6000"], "lacks"),
    (["evaluate", "--arch", "instinfer_csd", "--model", "gpt", "--context", "16"],
     "unknown LLM 'gpt'"),
])
def test_bad_input_is_one_line(args, words):
    r = runner.invoke(app, args)
    assert r.exit_code != 0
    assert words in r.output and "Traceback" not in r.output


def test_reproduce_instinfer_json_and_out(tmp_path):
    r = runner.invoke(app, ["reproduce", "instinfer", "--format", "json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {"system", "model", "batch", "drives", "tokens_per_s", "oom"} <= set(rows[0])
    assert {x["system"] for x in rows} == {"gpu", "deepspeed", "flexgen", "instinfer",
                                           "instinfer_sparse"}
    assert {x["batch"] for x in rows} >= {1, 256} and {x["drives"] for x in rows} >= {1, 20}
    assert {p.name for p in tmp_path.iterdir()} == {"rows.csv", "claims.csv", "throughput.html", "plotly.min.js"}
    assert "sparse_over_flexgen" in (tmp_path / "claims.csv").read_text()
