"""The README's two set-up commands are what .ci/run runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    script = ROOT / ".ci" / "run"
    awk = next(line for line in script.read_text().splitlines() if line.startswith("mapfile"))
    program = awk.split("awk '", 1)[1].split("' README.md", 1)[0]
    out = subprocess.run(["awk", program, str(ROOT / "README.md")], capture_output=True, text=True,
                         check=True)
    return out.stdout.splitlines()


def test_ci_runs_the_readme_commands():
    cmds = readme_commands()
    assert len(cmds) == 2
    install, tests = cmds
    assert install.startswith("pip install .") and "attnsim" in install
    assert "[test]" in tests and "pytest" in tests


def test_ci_fails_when_readme_block_is_wrong(tmp_path):
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    (tmp_path / "README.md").write_text("# x\n<!-- ci:commands -->\n```sh\ntrue\n```\n")
    res = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True)
    assert res.returncode != 0
    assert "exactly two" in res.stderr
