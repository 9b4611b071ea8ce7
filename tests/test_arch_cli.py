"""`attnsim arch`: list, show and validate; problems as one line each, exit codes 0, 1 and 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from archsim.spec import load_arch, parse_spec, preset_names
from studies.cli import app

GOOD = """\
attnsim_spec: 1
name: mine
components:
  dram: {kind: memory, bandwidth: 100GB/s}
  buf: {kind: memory, parent: dram, capacity: 1MiB}
  pe: {kind: compute, parent: buf, shape: [8, 8], frequency: 1GHz, ops: {mac: 1}}
"""


def invoke(*args: str):
    """Run attnsim in-process with `args`."""
    return CliRunner().invoke(app, list(args))


def test_arch_commands_are_listed_with_examples():
    assert "arch" in invoke("--help").stdout
    for command in ("list", "show", "validate"):
        result = invoke("arch", command, "--help")
        assert result.exit_code == 0 and "Examples" in result.stdout


def test_list_table_and_json():
    table = invoke("arch", "list")
    assert table.exit_code == 0, table.output
    assert "fusemax" in table.stdout and "instinfer_csd" in table.stdout
    result = invoke("arch", "list", "--format", "json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert list(rows) == preset_names()
    assert rows["h100"]["substrate"] == "gpu" and rows["fusemax"]["substrate"] == "spatial"
    pe2d = next(u for u in rows["fusemax"]["compute"] if u["name"] == "pe2d")
    assert pe2d == {"name": "pe2d", "count": 1, "shape": [256, 256], "lanes": 65536,
                    "attainable": 1.0, "frequency": "940MHz"}
    nand = next(m for m in rows["instinfer_csd"]["top_memory"] if m["name"] == "nand")
    assert nand["total_bandwidth"] == "11.2GB/s" and nand["bandwidth"] == "1.4GB/s"


def test_show_table_json_and_yaml():
    table = invoke("arch", "show", "instinfer_csd")
    assert table.exit_code == 0, table.output
    for text in ("drive_dram", "pcie_x4", "engine", "Links"):
        assert text in table.stdout
    data = json.loads(invoke("arch", "show", "fusemax", "-f", "json").stdout)
    assert data == load_arch("fusemax").to_dict()
    assert data["components"]["global_buffer"]["capacity"] == "16MiB"
    assert data["components"]["pe2d"]["ops"]["exp"] == {"cycles": 7,
                                                        "actions": {"mac": 6, "add": 1}}
    text = invoke("arch", "show", "h100", "--format", "yaml").stdout
    assert "shape: [4, 512]" in text and "attainable: 0.839" in text
    assert parse_spec(text).computes == load_arch("h100").computes
    h100 = invoke("arch", "show", "h100").stdout  # the sustained share beside the lanes
    assert "270,336 (x0.839)" in h100 and "spec `attainable`" in h100
    assert "spec `attainable`" not in table.stdout


def test_show_with_overrides():
    result = invoke("arch", "show", "fusemax", "--set", "global_buffer.capacity=8MiB",
                    "--set", "pe2d.shape=[128,128]", "-f", "json")
    assert result.exit_code == 0, result.output
    components = json.loads(result.stdout)["components"]
    assert components["global_buffer"]["capacity"] == "8MiB"
    assert components["pe2d"]["shape"] == [128, 128]


@pytest.mark.parametrize("args, line", [
    (["show", "fusmax"], "error: no preset architecture or file named 'fusmax' "
                         "(did you mean 'fusemax'?)"),
    (["show", "fusemax", "--set", "global_buffer.capacity=8MHz"],
     "error: --set global_buffer.capacity: global_buffer.capacity: expected a size like 16MiB, "
     "got '8MHz'"),
    (["show", "fusemax", "--format", "xml"], "'xml' is not one of"),
])
def test_show_errors_are_one_line_exit_2(args, line):
    result = invoke("arch", *args)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and line in lines[0] and "Traceback" not in result.output


def test_validate_ok(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text(GOOD)
    result = invoke("arch", "validate", str(spec))
    assert result.exit_code == 0 and result.stdout == f"{spec}: ok\n"
    assert invoke("arch", "validate", "fusemax").exit_code == 0


def test_validate_reports_every_problem_one_line_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("1MiB", "1MHz").replace("1GHz", "0GHz"))
    result = invoke("arch", "validate", "bad.yaml", "--set", "pe.shape=[0]")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout.splitlines() == [
        "bad.yaml:5: buf.capacity: expected a size like 16MiB, got '1MHz'",
        "bad.yaml:6: pe.frequency: must be > 0, got '0GHz'",
        "--set pe.shape: pe.shape[0]: must be > 0, got '0'",
    ]


@pytest.mark.parametrize("content, line", [
    (None, "missing.yaml: no such file"),
    ("attnsim_spec: 1\nname: [x\n", "bad.yaml:3: invalid YAML: expected ',' or ']'"),
    (yaml.safe_dump({"attnsim_spec": 3, "name": "x"}),
     "bad.yaml:1: attnsim_spec: version '3' is not supported (supported: 1)"),
])
def test_validate_missing_and_broken_files(tmp_path, monkeypatch, content, line):
    monkeypatch.chdir(tmp_path)
    name = "missing.yaml" if content is None else "bad.yaml"
    if content is not None:
        (tmp_path / name).write_text(content)
    result = invoke("arch", "validate", name)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), lines
