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


def more_commands() -> list[str]:
    """The argument lines of README's "More commands" block (comments dropped)."""
    block = README.read_text().split("## More commands", 1)[1].split("```sh\n", 1)[1]
    lines = block.split("```", 1)[0].splitlines()
    return [shlex.split(line, comments=True)[1:] for line in lines if line.strip()]


SHELL = (">", ">>", "|", "&&")  # where a shell line stops being attnsim's arguments


def help_examples() -> list[list[str]]:
    """The `attnsim ...` example lines of every command's --help and epilog."""
    import typer.main

    found, todo = [], [(typer.main.get_command(app), None, "attnsim")]
    while todo:
        command, parent, name = todo.pop()
        ctx = command.make_context(name, [], parent=parent, resilient_parsing=True)
        text = f"{command.help or ''}\n{command.epilog or ''}".replace(";", "\n")
        for line in re.findall(r"^\s*(?:Examples?: )?(attnsim .+)$", text, re.M):
            words = shlex.split(line, comments=True)[1:]
            found.append(words[:next((k for k, w in enumerate(words) if w in SHELL), None)])
        if hasattr(command, "get_command"):
            todo += [(command.get_command(ctx, n), ctx, n) for n in command.list_commands(ctx)]
    return found


def parse_only(args: list[str]) -> None:
    """Parse `attnsim ARGS` as the command line would, without running the command."""
    import typer.main

    command, ctx, name, rest = typer.main.get_command(app), None, "attnsim", list(args)
    while hasattr(command, "get_command"):  # a group (no options of its own): its subcommand
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        name, rest = rest[0], rest[1:]
        command = command.get_command(ctx, name)
        assert command is not None, f"no command '{name}'"
    command.make_context(name, rest, parent=ctx)  # raises on an unknown option or a bad value


@pytest.mark.parametrize("args", more_commands(), ids=lambda a: " ".join(a[:2]))
def test_more_commands_parse(args):
    # each command and option the README lists exists and takes the values shown; running
    # them all would take minutes, and each is exercised by its own command's tests
    parse_only(args)


def test_every_help_example_parses():
    examples = help_examples()
    assert len(examples) >= 20
    for args in examples:
        try:
            parse_only(args)
        except Exception as exc:
            raise AssertionError(f"'attnsim {' '.join(args)}' in --help: {exc}") from exc


def regenerate() -> None:
    """Rewrite every console block of README.md with this version's output."""
    text = README.read_text()
    text = BLOCK.sub(lambda m: f"```console\n$ attnsim {m[1]}\n{output(m[1])}```", text)
    README.write_text(text)


if __name__ == "__main__":
    regenerate()
