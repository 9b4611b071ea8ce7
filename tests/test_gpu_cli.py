"""`attnsim evaluate` with GPU mappers and `attnsim reproduce flashattention`: output fields,
one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from archsim.spec import load_arch
from mappers.gpu import Attention
from studies.cli import app
from studies.gpu_evaluate import evaluate_gpu

runner = CliRunner()
BASE = ["evaluate", "--batch", "1", "--heads", "16", "--head-dim", "128"]


def test_evaluate_gpu_json_fields():
    r = runner.invoke(app, BASE + ["--arch", "h100", "--mapper", "fa3", "--seq", "4K", "-f",
                                   "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["arch"] == "h100" and d["mapper"] == "fa3"
    assert d["tflops"] == pytest.approx(4 * 4096 ** 2 * 128 * 16 / d["latency_s"] / 1e12)
    assert d["hbm_bytes"] == 16 * 4096 * 128 * 2 * 4  # Q, K, V, O once each
    assert set(d["utilisation"]) == {"tensor_core", "sfu", "cuda_core"}
    assert d["ideal_s"] <= d["compute_s"] <= d["latency_s"] and d["assumptions"]
    assert d["tiles"] and d["occupancy"] >= 1 and d["waves"]


def test_the_header_says_heads_x_batch_and_how_many_instances_were_mapped():
    # stream-K maps one instance per SM's share of the keys, not one per head
    head = lambda *a: " ".join(runner.invoke(app, [  # the header, unwrapped
        "evaluate", "--batch", "2", "--heads", "32", "--head-dim", "128", *a]).output.split()
                               ).split(", shapes")[0]
    assert head("--mapper", "lean", "--phase", "decode", "--context", "64K").endswith(
        "(64 heads x batch, mapped as 132 instances)")
    assert head("--mapper", "fa2", "--seq", "1K").endswith("custom (64 heads x batch)")


def test_evaluate_gpu_defaults_to_h100_and_decode_phase():
    r = runner.invoke(app, BASE + ["--mapper", "flash_decoding", "--phase", "decode",
                                   "--context", "64K", "-f", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["arch"] == "h100" and d["problem"]["keys"] == 65536 and d["problem"]["queries"] == 1
    causal = runner.invoke(app, BASE + ["--mapper", "fa2", "--seq", "4K", "--causal"])
    assert causal.exit_code == 0 and "TFLOP/s" in causal.output
    gqa = runner.invoke(app, BASE + ["--mapper", "fa3", "--seq", "4K", "--kv-heads", "4", "-f",
                                     "json"])
    assert json.loads(gqa.output)["problem"]["kv_heads"] == 4


@pytest.mark.parametrize("args, words", [
    (["--mapper", "fa3", "--seq", "1K", "--head-dim", "100"], "head dim 100 is not supported"),
    (["--mapper", "fa1", "--arch", "a100", "--seq", "1K", "--head-dim", "100"],
     "head dim 100 is not supported by fa1"),
    (["--mapper", "fa2", "--seq", "0"], "expected a positive count"),
    (["--mapper", "flash_decoding", "--phase", "decode"], "needs --context"),
    (["--mapper", "lean", "--phase", "decode", "--context", "12x"], "--context: expected a positive"),
    (["--mapper", "fa2", "--seq", "1000"], "multiple of 16"),
    (["--mapper", "lean", "--seq", "1K"], "is a decode mapper"),
    (["--mapper", "fa2", "--seq", "1K", "--phase", "sideways"], "prefill or decode"),
    (["--mapper", "fusemax", "--seq", "1K", "--causal"], "apply to the GPU mappers"),
    (["--mapper", "fa2", "--seq", "1K", "--arch", "fusemax"], "maps onto a GPU"),
    # FA3's kernels are Hopper-only (wgmma, TMA): refused on Ampere and on Blackwell
    (["--mapper", "fa3", "--seq", "1K", "--arch", "a100"], "'a100' is not a Hopper GPU"),
    (["--mapper", "fa3", "--seq", "1K", "--arch", "a6000"], "'a6000' is not a Hopper GPU"),
    (["--mapper", "fa3", "--seq", "1K", "--arch", "b200"], "'b200' is not a Hopper GPU"),
    # 16 heads' S and P at 64K keys are 2 x 137 GB: more than the H100's 80 GiB
    (["--mapper", "standard", "--seq", "64K"], "out of memory: the three_pass_recompute mapping holds 276.0 GB"),
])
def test_gpu_bad_input_is_one_line(args, words):
    r = runner.invoke(app, BASE[:1] + ["--batch", "1", "--heads", "16"] + (
        [] if "--head-dim" in args else ["--head-dim", "128"]) + args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.output


def test_fa3_runs_on_any_spec_of_compute_capability_9(tmp_path):
    # a user's copy of the H100 preset under another name is still a Hopper GPU
    from archsim.spec import PRESETS_DIR
    spec = tmp_path / "my_h100.yaml"
    spec.write_text((PRESETS_DIR / "h100.yaml").read_text().replace("name: h100", "name: my_h100"))
    r = runner.invoke(app, BASE + ["--arch", str(spec), "--mapper", "fa3", "--seq", "1K"])
    assert r.exit_code == 0, r.output
    no_cc = tmp_path / "old_h100.yaml"
    no_cc.write_text("\n".join(line for line in spec.read_text().splitlines()
                               if not line.startswith("compute_capability")))
    r = runner.invoke(app, BASE + ["--arch", str(no_cc), "--mapper", "fa3", "--seq", "1K"])
    assert r.exit_code == 2 and "no compute_capability in its spec" in r.output


def test_reproduce_flashattention_json_and_files(tmp_path):
    r = runner.invoke(app, ["reproduce", "flashattention", "--format", "json", "--out",
                            str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {x["kernel"] for x in d["h100_forward"]} == {"fa3", "fa2", "standard"}
    fa2 = [x for x in d["h100_forward"] if x["kernel"] == "fa2"]
    assert len(fa2) == 6 and all(abs(x["ratio"] - 1) < 0.10 for x in fa2)
    assert {x["kernel"] for x in d["a100_forward"]} == {"fa2", "standard"}
    assert {x["kernel"] for x in d["fa1_gpt2"]} == {"standard", "flash"}
    assert len(d["decode"]) == 6 and d["decode_claims"]
    for name in ("h100_forward.csv", "a100_forward.csv", "peaks.csv", "fa1_gpt2.csv", "decode.csv",
                 "throughput.html", "a100.html", "decode.html"):
        assert (tmp_path / name).stat().st_size > 0
    a100 = (tmp_path / "a100.html").read_text()
    assert "fa2 (attnsim)" in a100 and "fa2 (FA2 paper)" in a100 and "d 128, causal" in a100
    # the table format renders the same tables: each measured row with its run's number, the
    # runs listed under it, what ran where the model's mapper stands in for it (SDPA)
    from studies.reproduce_cli import out, print_flashattention

    with out.capture() as cap:
        print_flashattention(d)
    text = cap.get()
    runs = list(dict.fromkeys((x["date"], x["run"]) for x in d["h100_measured"]))
    assert len(runs) == 4 and all(f"run {k}: {run}, {date}" in text
                                  for k, (date, run) in enumerate(runs, 1))
    assert "fa2 (sdpa)" in text and "fa3 causal" in text


def test_hbm_live_bytes_are_what_the_kernels_hold_at_once():
    # standard at 16K (batch 1, 16 heads of 128): Q, K, V and O (N x d each) all along, S and P
    # (N x N, 2 B) both live in the softmax kernel; the causal mask is one (N, N) tensor for
    # every head; FA2 holds only Q, K, V and O
    h100 = load_arch("h100")
    n, nd, nn = 16384, 16 * 16384 * 128 * 2, 16 * 16384 * 16384 * 2
    a = Attention(1, 16, 128, n)
    assert evaluate_gpu("standard", a, h100)["hbm_live_bytes"] == 4 * nd + 2 * nn
    assert evaluate_gpu("fa2", a, h100)["hbm_live_bytes"] == 4 * nd
    causal = evaluate_gpu("standard", Attention(1, 16, 128, n, causal=True), h100)
    assert causal["hbm_live_bytes"] == 4 * nd + 2 * nn + n * n * 2  # the mask beside S and MS


def test_compare_marks_a_point_that_does_not_fit_and_goes_on():
    # standard's S and P at 64K (16 heads) exceed the H100's HBM: that row is an error, the
    # others are scored; only when nothing runs is the comparison refused
    args = ["compare", "--arch", "h100", "--designs", "fa2,standard", "--batch", "1", "--heads",
            "16", "--head-dim", "128", "--seq", "16K,64K"]
    rows = json.loads(runner.invoke(app, args + ["-f", "json"]).output)
    bad = [r for r in rows if r["error"]]
    assert [(r["design"], r["seq_len"]) for r in bad] == [("standard", "64K")]
    assert "out of memory" in bad[0]["error"] and bad[0]["latency_s"] is None
    assert all(r["latency_s"] > 0 for r in rows if not r["error"])
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "standard at 64K: out of memory" in table.output
    alone = runner.invoke(app, args[:4] + ["standard"] + args[5:-1] + ["64K"])
    assert alone.exit_code == 2 and "out of memory" in alone.output
