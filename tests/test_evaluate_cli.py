"""`attnsim evaluate`: results with their split and assumptions; bad input is one line."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from studies.cli import app
from studies.evaluate import DESIGNS

runner = CliRunner()


def test_evaluate_json_has_split_and_assumptions():
    r = runner.invoke(app, ["evaluate", "--arch", "fusemax", "--cascade", "one_pass", "--model",
                            "bert", "--seq", "4K", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["ideal_s"] <= d["compute_s"] <= d["latency_s"] and d["transfer_s"] <= d["latency_s"]
    assert d["traffic_bytes"] == 64 * 12 * 4096 * 64 * 4 * 2  # Q, K, V, AV once each
    assert set(d["utilisation"]) == {"pe1d", "pe2d"} and d["assumptions"]
    assert {row["einsum"] for row in d["einsums"]} >= {"BQK", "AV"}


def test_search_is_never_slower_than_fusemax():
    base = ["evaluate", "--batch", "2", "--heads", "2", "--head-dim", "64", "--seq", "4K", "-f",
            "json"]
    hand = json.loads(runner.invoke(app, base).output)
    found = json.loads(runner.invoke(app, base + ["--mapper", "search"]).output)
    assert found["latency_s"] <= hand["latency_s"] * 1.01
    assert found["search"]["mappings_scored"] > 0 and found["search"]["seconds"] > 0
    assert "search" not in hand


@pytest.mark.parametrize("args, words", [
    (["--model", "gpt", "--seq", "1K"], "unknown model 'gpt'"),
    (["--model", "bert", "--seq", "1000"], "not a multiple of the array side"),
    (["--model", "bert", "--seq", "lots"], "expected a positive count"),
    (["--model", "bert", "--seq", "1K", "--mapper", "magic"], "unknown mapper 'magic'"),
    (["--model", "bert", "--seq", "1K", "--cascade", "three_pass"], "runs the 'one_pass' cascade"),
    (["--batch", "2", "--seq", "1K"], "all of --batch, --heads and --head-dim"),
    (["--model", "bert", "--seq", "1K", "--set", "global_buffer.capacity=-1MiB"], "capacity"),
    # a mapping tiled by the array side would leave the rest of a non-square array idle
    (["--model", "bert", "--seq", "1K", "--set", "pe2d.shape=[128, 256]"],
     "need a square 2D array: 'fusemax' has pe2d.shape [128, 256]"),
    (["--model", "bert", "--seq", "1K", "--mapper", "flat", "--arch", "flat", "--set",
      "pe2d.shape=[16, 16, 4]"], "'flat' has pe2d.shape [16, 16, 4]"),
])
def test_bad_input_is_one_line(args, words):
    r = runner.invoke(app, ["evaluate", *args])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.output


@pytest.mark.parametrize("args, words", [
    # a design on an architecture of another substrate: one line, not a KeyError traceback
    (["evaluate", "--mapper", "fusemax", "--arch", "h100", "--model", "bert", "--seq", "1K"],
     "design 'fusemax' maps onto a spatial architecture, not 'h100'"),
    (["bound", "roofline", "--arch", "h100", "--mapper", "fusemax", "--model", "bert", "--seq",
      "1K"], "design 'fusemax' maps onto a spatial architecture, not 'h100'"),
    (["bound", "roofline", "--model", "bert", "--seq", "1K", "--mapper", "fa2"],
     "design 'fa2' maps onto a gpu architecture, not 'fusemax'"),
    (["sweep", "--mapper", "fusemax", "--arch", "h100", "--model", "bert", "--seq", "1K",
      "--grid", "l2.capacity=10MB,20MB", "--out", "never.parquet"], "maps onto a spatial"),
    (["sweep", "--model", "bert", "--seq", "1K", "--grid", "global_buffer.capacity=1MiB,2MiB",
      "--accounting", "foo", "--out", "never.parquet"], "--accounting must be one of"),
    (["evaluate", "--arch", "instinfer_csd", "--model", "opt-13b", "--phase", "decode",
      "--batch", "4", "--context", "1K", "--causal"], "--causal: not for a storage architecture"),
])
def test_options_that_do_not_apply_are_one_line(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.output
    assert not (tmp_path / "never.parquet").exists()


def test_compare_designs_over_lengths(tmp_path):
    html = tmp_path / "c.html"
    r = runner.invoke(app, ["compare", "--designs", "unfused,fusemax", "--model", "t5", "--seq",
                            "1K,4K", "--html", str(html), "-f", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["design"], x["seq_len"]) for x in rows] == [
        ("unfused", "1K"), ("fusemax", "1K"), ("unfused", "4K"), ("fusemax", "4K")]
    fused = [x for x in rows if x["design"] == "fusemax"]
    assert all(x["speedup"] > 5 and x["energy_ratio"] < 1 for x in fused)
    assert html.stat().st_size > 0
    bad = runner.invoke(app, ["compare", "--designs", "unfused,magic", "--model", "t5", "--seq",
                              "1K"])
    assert bad.exit_code == 2 and "unknown mapper 'magic'" in bad.output


def test_compare_runs_every_design_on_each_given_arch():
    r = runner.invoke(app, ["compare", "--designs", "fa2,standard", "--arch", "a100,h100",
                            "--batch", "1", "--heads", "16", "--head-dim", "128", "--seq", "4K",
                            "-f", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["design"], x["arch"]) for x in rows] == [
        ("fa2", "a100"), ("standard", "a100"), ("fa2", "h100"), ("standard", "h100")]
    lat = {(x["design"], x["arch"]): x["latency_s"] for x in rows}
    # H100 has more SMs, HBM bandwidth and MMA rate than A100; FA2 beats standard on both
    assert lat["fa2", "h100"] < lat["fa2", "a100"] and lat["fa2", "a100"] < lat["standard", "a100"]
    bad = runner.invoke(app, ["compare", "--designs", "fa2,fusemax", "--arch", "h100", "--batch",
                              "1", "--heads", "16", "--head-dim", "128", "--seq", "1K"])
    assert bad.exit_code == 2 and "'fusemax' maps onto a spatial architecture" in bad.output


def test_compare_all_four_designs_of_the_paper():
    # T5 at 64K, each design on its preset: FuseMax fastest, unfused slowest (artifact
    # attention.csv: 4.9 s, 57.1 s). With the 1D array's own 1-cycle exp the 1-pass cascade
    # (3p + 4 + 2F cycles per 1D point group) beats FLAT's softmax-bound 4p; the artifact's
    # 2-cycle exp (4p + 5 + 2F) puts it behind (41.3 s vs FLAT's 36.6 s)
    r = runner.invoke(app, ["compare", "--designs", "unfused,flat,cascade,fusemax", "--model",
                            "t5", "--seq", "64K", "-f", "json"])
    assert r.exit_code == 0, r.output
    lat = {x["design"]: x["latency_s"] for x in json.loads(r.stdout)}
    assert lat["fusemax"] < lat["cascade"] < lat["flat"] < lat["unfused"]
    assert lat["cascade"] / lat["flat"] == pytest.approx((3 * 256 + 4 + 128) / (4 * 256), rel=0.01)


@pytest.mark.parametrize("mapper", ["flat", "cascade"])
def test_flat_designs_evaluate_with_their_assumptions(mapper):
    # the FLAT-hardware designs name what they add (FLAT's configuration; the cascade's exp)
    r = runner.invoke(app, ["evaluate", "--mapper", mapper, "--arch", "flat", "--model", "t5",
                            "--seq", "1K", "-f", "json"])
    assert r.exit_code == 0, r.output
    said = " ".join(json.loads(r.output)["assumptions"])
    assert ("FLAT configuration" if mapper == "flat" else "cascade: exponentials") in said


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_every_registered_design_evaluates_on_its_preset(name):
    # a smoke test over the registry: a design added (or a Design field reordered) that cannot
    # run through the CLI fails here, whichever substrate it belongs to
    d = DESIGNS[name]
    args = ["evaluate", "--mapper", name, "--arch", d.arch, "--batch", "1", "--heads", "8",
            "--head-dim", "64", "-f", "json"]
    if name in ("flash_decoding", "lean"):
        args += ["--phase", "decode", "--context", "4096"]
    else:
        args += ["--seq", "1K"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["latency_s"] > 0 and out["assumptions"]


@pytest.mark.parametrize("interrupted, words", [
    (True, "the search was interrupted before it found a mapping that fits 'fusemax'"),
    (False, "the search found no mapping that fits 'fusemax'")])
def test_a_search_without_a_mapping_says_whether_it_was_cut_short(interrupted, words):
    from archsim.spec import load_arch
    from mappers.mapping import MappingError
    from mappers.search import SearchResult
    from studies.evaluate import _found

    empty = SearchResult(None, float("inf"), float("inf"), 10, 0, 0.1, interrupted, 1)
    with pytest.raises(MappingError, match=words):
        _found(empty, load_arch("fusemax"))


@pytest.mark.parametrize("preset, old, mapper", [
    ("fusemax", "pe2d", "fusemax"), ("flat", "global_buffer", "flat"), ("h100", "l2", "standard"),
    ("h100", "tensor_core", "fa1"), ("h100", "registers", "fa2")])
def test_a_spec_renaming_a_component_the_mappings_read_is_refused(tmp_path, preset, old, mapper):
    # the spec validates (names are the user's), but the mappings place work on these names
    from archsim.spec import PRESETS_DIR
    text = (PRESETS_DIR / f"{preset}.yaml").read_text()
    spec = tmp_path / "renamed.yaml"
    text = re.sub(rf"^(\s+){old}:", r"\1renamed:", text, flags=re.M)  # the component's key
    spec.write_text(re.sub(rf"(parent: |between: \[.*?){old}\b", r"\1renamed", text))
    args = ["--model", "bert", "--seq", "1K"] if preset in ("fusemax", "flat") else [
        "--batch", "1", "--heads", "16", "--head-dim", "64", "--seq", "1K"]
    r = runner.invoke(app, ["evaluate", "--arch", str(spec), "--mapper", mapper, *args])
    assert r.exit_code == 2 and f"has no {old} (its components:" in r.output, r.output
