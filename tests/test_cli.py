"""The attnsim command line: each command's table and JSON, and one-line errors (exit code 2)."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from einsum_cascades import analyse, library, load
from studies.cli import app

ROOT = Path(__file__).resolve().parents[1]
SMALL = "e=8,f=8,m=37,p=5,m0=8"  # m0 does not divide m: a ragged last tile


def invoke(*args: str):
    """Run attnsim in-process with `args`."""
    return CliRunner().invoke(app, list(args))


def ok_json(*args: str):
    """Run attnsim with `args`, check it succeeded, and parse its JSON output."""
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_help_lists_commands_and_version():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("cascades", "show", "passes", "run"):
        assert command in result.stdout
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("attnsim ")


def test_cascades_table_and_json():
    table = invoke("cascades")
    assert table.exit_code == 0, table.output
    assert "one_pass" in table.stdout and "three_pass" in table.stdout
    rows = {r["name"]: r for r in ok_json("cascades")}
    assert list(rows) == library.names()
    assert rows["one_pass"]["max_passes"] == 1 and rows["three_pass"]["max_passes"] == 3
    assert rows["three_pass"]["einsums"] == 6 and rows["three_pass"]["inputs"] == ["Q", "K", "V"]
    assert set(rows["one_pass"]) == {"name", "max_passes", "einsums", "inputs", "description"}


def test_passes_json_is_the_report():
    data = ok_json("passes", "one_pass")
    assert data == json.loads(json.dumps(analyse(load("one_pass")).to_dict()))
    assert data["max_passes"] == 1 and data["passes"]["m"] == 1
    assert ok_json("passes", "three_pass")["max_passes"] == 3


def test_passes_table_headline():
    result = invoke("passes", "three_pass")
    assert result.exit_code == 0, result.output
    assert "three_pass: 3-pass cascade (max over ranks)" in result.stdout


def test_show_table_and_json():
    result = invoke("show", "one_pass")
    assert result.exit_code == 0, result.output
    assert "BQK[m1,m0,p] = Q[e,p] * BK[e,m1,m0]" in result.stdout
    assert "RD -> SPD" in result.stdout and "previous iterate" in result.stdout
    data = ok_json("show", "one_pass")
    assert len(data["einsums"]) == 17 and data["outputs"] == ["AV"]
    assert {"from": "RD", "to": "SPD", "carried": True} in data["edges"]
    assert data["op_counts"]["/"] == "F*P"


def test_run_check_json():
    data = ok_json("run", "one_pass", "--shape", SMALL, "--check")
    assert data["max_abs_error"] < 1e-9 and data["check_passed"]
    assert data["shapes"]["m1"] == 5  # ceil(37 / 8)
    assert data["outputs"]["AV"]["shape"] == [8, 5]
    assert data["op_counts"] == data["symbolic_op_counts"]
    suffixed = ok_json("run", "one_pass", "--shape", "e=8,f=8,m=1K,p=5,m0=256")
    assert suffixed["shapes"]["m"] == 1024 and suffixed["shapes"]["m1"] == 4  # the --seq suffixes


def test_run_table_and_failed_check():
    result = invoke("run", "three_pass", "--shape", "e=4,f=4,m=9,p=3", "--check")
    assert result.exit_code == 0, result.output
    assert "check pass" in result.stdout
    failed = invoke("run", "one_pass", "--shape", SMALL, "--check", "--tol", "0")
    assert failed.exit_code == 1 and "check FAIL" in failed.stdout


def assert_one_line_error(result, reason: str) -> None:
    """Exit code 2, nothing on stdout, one `error:` line on stderr naming `reason`."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], lines
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, reason", [
    (["show", "no_such_cascade"], "no library cascade or file named 'no_such_cascade'"),
    (["run", "one_pass", "--shape", "m=abc"], "bad --shape item 'm=abc'"),
    (["run", "one_pass", "--shape", "m"], "bad --shape item 'm': expected RANK=COUNT"),
    (["run", "one_pass", "--shape", "e=8,f=8,p=5,m=0"], "bad --shape item 'm=0': expected a positive"),
    (["run", "one_pass", "--shape", "e=8,f=8"], "needs the shape of rank(s)"),
    (["run", "one_pass", "--shape", "e=8,q=3"], "rank 'q'"),
    (["run", "one_pass"], "Missing option '--shape'"),
    (["passes", "one_pass", "--format", "xml"], "'xml' is not one of"),
    # random values in an additive mask or dropout's inputs are not attention: no false FAIL
    (["run", "three_pass_masked", "--shape", "e=4,f=4,m=9,p=3", "--check"],
     "cannot check 'three_pass_masked' against attention on random inputs: its input(s) CM"),
    (["run", "three_pass_dropout", "--shape", "e=4,f=4,m=9,p=3", "--check"],
     "its input(s) SC, PB, DM"),
    # what is not attention at all says why, before its other inputs are named
    (["run", "gemm", "--shape", "i=8,n=8,o=8", "--check"], "it has no input(s) Q, K, V"),
    (["run", "backward_flash", "--shape", "e=4,f=4,m=8,p=4,m0=4", "--check"],
     "it has 3 outputs (BDV, BDK, dQ), attention has one"),
    (["evaluate", "--model", "bert", "--seq", str(2**64)], "more than the largest count"),
    (["bound", "traffic", "--model", "bert", "--seq", "1K", "--buffers", "-1KiB"],
     "--buffers: sizes must be > 0, got '-1KiB'"),
    # a speedup of a decode step over a prefill means nothing
    (["compare", "--designs", "fa2,flash_decoding", "--batch", "1", "--heads", "16",
      "--head-dim", "128", "--seq", "1K"], "fa2 (prefill), flash_decoding (decode)"),
])
def test_bad_input_is_one_line(args, reason):
    assert_one_line_error(invoke(*args), reason)


def test_syntax_error_in_file_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.cascade"
    bad.write_text("@input Q[e,p], K[e,m]\nQK[m,p] = Q[e,p] * * K[e,m]\n")
    assert_one_line_error(invoke("passes", str(bad)), "bad.cascade:2:20: expected an operand")


def test_main_in_a_subprocess_reports_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "studies.cli", "run", "one_pass", "--shape", "m=abc"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: bad --shape item 'm=abc': expected a positive count like 64K or 1M, got 'abc'"]


def test_lazy_commands_help_is_their_own_and_startup_skips_the_heavy_stack():
    from studies.cli import LAZY, lazy_command
    for name, (_, _, short) in LAZY.items():
        command = lazy_command(name)
        assert short == command.get_short_help_str(limit=200), name
    code = ("import sys, studies.cli; "
            "print(sorted(m for m in ('numba', 'pandas', 'scipy', 'mappers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout.strip()
    assert loaded == "[]", f"attnsim's startup imports {loaded}"
    listed = invoke("--help").stdout  # each lazy command on its own row of the listing
    assert all(re.search(rf"│ {name} +{re.escape(LAZY[name][2][:20])}", listed) for name in LAZY)


@pytest.mark.parametrize("group, commands", [
    ("reproduce", ("fusemax", "flashattention", "instinfer")),
    ("bound", ("tiles", "roofline", "traffic")),
    ("arch", ("list", "show", "validate")),
])
def test_a_group_alone_teaches_its_commands_and_an_example(group, commands):
    result = invoke(group)  # no subcommand: its help, not "Missing command"
    assert "Missing command" not in result.output
    assert all(re.search(rf"│ {c} ", result.output) for c in commands), result.output
    assert f"Example: attnsim {group} " in result.output
