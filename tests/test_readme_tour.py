"""The README's tour is this version's real output: each `$ attnsim ...` block is run and compared.

Regenerate the blocks after a deliberate model change with `python tests/test_readme_tour.py`.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from studies.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
WIDTH = 100  # columns the tour is rendered at
BLOCK = re.compile(r"```console\n\$ attnsim (.*?)\n(.*?)```", re.S)


def tour() -> list[tuple[str, str]]:
    """The (arguments, expected output) of every console block in README.md."""
    return BLOCK.findall(README.read_text())


@contextmanager
def fixed_width() -> Iterator[None]:
    """Render every attnsim console at WIDTH columns, whatever the terminal."""
    consoles = [v for name, m in list(sys.modules.items()) if name.startswith("studies")
                for v in vars(m).values() if isinstance(v, Console)]
    widths = [c._width for c in consoles]
    for c in consoles:
        c.width = WIDTH
    try:
        yield
    finally:
        for c, w in zip(consoles, widths):
            c._width = w


def run(args: str) -> tuple[str, int]:
    """What `attnsim ARGS` prints (stdout then stderr, trailing spaces dropped), exit code."""
    with fixed_width():  # consoles of commands imported during the run read COLUMNS
        result = CliRunner(env={"COLUMNS": str(WIDTH)}).invoke(app, shlex.split(args))
    text = result.stdout + result.stderr
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n", result.exit_code


def output(args: str) -> str:
    """What `attnsim ARGS` prints."""
    return run(args)[0]


@pytest.mark.parametrize(("args", "expected"), tour(), ids=[a for a, _ in tour()])
def test_tour_block_is_real_output(args, expected):
    text, code = run(args)
    assert text == expected, \
        "README tour is stale: regenerate with `python tests/test_readme_tour.py`"
    assert code == (2 if expected.startswith("error:") else 0)  # errors exit 2, the rest 0


def test_the_tour_has_blocks():
    assert len(tour()) >= 5


def regenerate() -> None:
    """Rewrite every console block of README.md with this version's output."""
    text = README.read_text()
    text = BLOCK.sub(lambda m: f"```console\n$ attnsim {m[1]}\n{output(m[1])}```", text)
    README.write_text(text)


if __name__ == "__main__":
    regenerate()
