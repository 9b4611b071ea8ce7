"""`attnsim arch`: list, show and validate architecture specs (presets or YAML files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from archsim.spec import Architecture, Compute, Memory, SpecError, load_arch, preset_names
from archsim.units import format_bandwidth, format_frequency, format_size, format_technology

out = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)

arch_app = typer.Typer(
    no_args_is_help=True,
    epilog="Example: attnsim arch show fusemax --set global_buffer.capacity=8MiB",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ListFormat(str, Enum):
    """Output format of `arch list`."""

    table = "table"
    json = "json"


class ShowFormat(str, Enum):
    """Output format of `arch show`; yaml is a spec that loads back."""

    table = "table"
    json = "json"
    yaml = "yaml"


ArchArg = Annotated[str, typer.Argument(
    metavar="NAME|FILE", help="A preset name (see 'attnsim arch list') or a spec YAML file.",
    show_default=False)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="PATH=VALUE", show_default=False,
    help="Change a field before checking, e.g. global_buffer.capacity=8MiB, pe2d.shape=[128,128], "
         "pe2d.ops.exp=5, word_bits=8 (repeatable).")]


@contextmanager
def spec_errors() -> Iterator[None]:
    """Print each problem of a SpecError as its own `error:` line and exit with status 2."""
    try:
        yield
    except SpecError as exc:
        for problem in exc.problems:
            err.print(f"error: {problem}", style="red", soft_wrap=True)
        raise typer.Exit(2) from None


def pes(unit: Compute) -> str:
    """`256x256`, or `108 x 4x256` for 108 instances of a 4x256 array."""
    shape = "x".join(map(str, unit.shape))
    return shape if unit.count == 1 else f"{unit.count} x {shape}"


def bandwidth(memory: Memory) -> str:
    """`400GiB/s`, or `11.2GB/s (8 x 1.4GB/s)` for several instances."""
    total = format_bandwidth(memory.count * memory.bandwidth_bytes_per_s)
    if memory.count == 1:
        return total
    return f"{total} ({memory.count} x {format_bandwidth(memory.bandwidth_bytes_per_s)})"


def summary(arch: Architecture) -> dict[str, Any]:
    """One row of `arch list`: compute units and the bandwidth of each root memory."""
    units = [{"name": n, "count": c.count, "shape": list(c.shape), "lanes": c.lanes,
              "attainable": c.attainable, "frequency": format_frequency(c.frequency_hz)}
             for n in arch.units() for c in [arch.computes[n]]]
    roots = [{"name": n, "count": m.count, "bandwidth": format_bandwidth(m.bandwidth_bytes_per_s),
              "total_bandwidth": format_bandwidth(m.count * m.bandwidth_bytes_per_s)}
             for n in arch.roots() for m in [arch.memories[n]]]
    return {"name": arch.name, "substrate": arch.substrate, "compute": units,
            "top_memory": roots, "description": arch.description}


# ----------------------------------------------------------------------------- list
@arch_app.command("list")
def list_presets(fmt: Annotated[ListFormat, typer.Option(
        "--format", "-f", help="Print a table or JSON.")] = ListFormat.table) -> None:
    """List the preset architectures: substrate, compute units, top memory bandwidth.

    Examples:

    attnsim arch list

    attnsim arch list --format json
    """
    loaded: dict[str, Architecture | SpecError] = {}
    for name in preset_names():
        try:
            loaded[name] = load_arch(name)
        except SpecError as exc:  # one broken preset should not hide the others
            loaded[name] = exc
    if fmt is ListFormat.json:
        rows = [summary(a) if isinstance(a, Architecture) else {"name": n, "error": str(a)}
                for n, a in loaded.items()]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Preset architectures")
    table.add_column("name", no_wrap=True)
    table.add_column("substrate", no_wrap=True)
    table.add_column("compute (PEs @ clock)")
    table.add_column("top memory bandwidth")
    table.add_column("description")
    for name, a in loaded.items():
        if isinstance(a, SpecError):
            table.add_row(name, "", "", "", f"error: {a.problems[0]}", style="red")
            continue
        units = [f"{n} {pes(a.computes[n])} @ {format_frequency(a.computes[n].frequency_hz)}"
                 for n in a.units()]
        roots = [f"{n} {bandwidth(a.memories[n])}" for n in a.roots()]
        table.add_row(name, a.substrate, "\n".join(units), "\n".join(roots), a.description)
    out.print(table)


# ----------------------------------------------------------------------------- show
def op_text(unit: Compute) -> str:
    """`mac 1, exp 7 (6 mac + 1 add)`: cycles per op, and what a composite op is made of."""
    parts = []
    for name, op in unit.ops.items():
        text = f"{name} {op.cycles:g}"
        if op.actions != {name: 1}:
            text += f" ({' + '.join(f'{n:g} {a}' for a, n in op.actions.items())})"
        parts.append(text)
    return ", ".join(parts)


@arch_app.command()
def show(arch: ArchArg, overrides: SetOpt = None, fmt: Annotated[ShowFormat, typer.Option(
        "--format", "-f", help="Print tables, JSON, or YAML (a spec that loads back).")]
        = ShowFormat.table) -> None:
    """Show every component of an architecture, with human units.

    Examples:

    attnsim arch show fusemax

    attnsim arch show h100 --format json

    attnsim arch show fusemax --set global_buffer.capacity=8MiB --set pe2d.shape=[128,128]

    attnsim arch show flat --format yaml > my_flat.yaml
    """
    with spec_errors():
        a = load_arch(arch, overrides or ())
    if fmt is ShowFormat.json:
        typer.echo(json.dumps(a.to_dict(), indent=2))
        return
    if fmt is ShowFormat.yaml:
        typer.echo(a.to_yaml(), nl=False)
        return
    out.print(f"{a.name}  ({a.source_file})", style="bold")
    if a.description:
        out.print(a.description)
    cc = f"   compute capability: {a.compute_capability:.1f}" if a.compute_capability else ""
    out.print(f"substrate: {a.substrate}   technology: {format_technology(a.technology_nm)}   "
              f"word: {a.word_bits} bits{cc}")

    table = Table("memory", "class", "count", "capacity", "bandwidth", "width (bits)", "banks",
                  "ports", title="Memories (capacity and bandwidth per instance)")
    table.columns[0].no_wrap = True
    for name in a.memory_levels():
        m = a.memories[name]
        indent = "  " * (len(a.parent_chain(name)) - 1)
        table.add_row(indent + name, m.cls, str(m.count), format_size(m.capacity_bytes),
                      format_bandwidth(m.bandwidth_bytes_per_s), str(m.width_bits), str(m.banks),
                      str(m.ports))
    out.print(table)

    capped = any(a.computes[n].attainable < 1 for n in a.units())
    table = Table("unit", "parent", "PEs", "lanes", "clock", "ops (cycles per op)", "units",
                  "RF entries", title="Compute units", caption="(xS): the unit sustains at most "
                  "S of its lanes (spec `attainable`)" if capped else None)
    table.columns[0].no_wrap = table.columns[3].no_wrap = True
    for name in a.units():
        c = a.computes[name]
        lanes = f"{c.lanes:,}" + (f" (x{c.attainable:g})" if c.attainable < 1 else "")
        table.add_row(name, c.parent, pes(c), lanes, format_frequency(c.frequency_hz),
                      op_text(c), ", ".join(c.units), str(c.register_file_entries))
    out.print(table)

    if a.links:
        table = Table("link", "between", "class", "count", "bandwidth", title="Links")
        for name in a.link_names():
            link = a.links[name]
            table.add_row(name, " <-> ".join(link.between), link.cls, str(link.count),
                          format_bandwidth(link.bandwidth_bytes_per_s))
        out.print(table)


# ----------------------------------------------------------------------------- validate
@arch_app.command()
def validate(spec: Annotated[str, typer.Argument(
        metavar="FILE", help="A spec YAML file (or a preset name).", show_default=False)],
        overrides: SetOpt = None) -> None:
    """Check a spec file: `FILE: ok` (exit 0), or one line per problem (exit 1).

    Every problem of the file is reported, each as `FILE:LINE: FIELD: reason` (an override's
    as `--set PATH: FIELD: reason`).

    Examples:

    attnsim arch validate my_accelerator.yaml

    attnsim arch validate my_accelerator.yaml --set global_buffer.capacity=8MiB
    """
    try:
        load_arch(spec, overrides or ())
    except SpecError as exc:
        for problem in exc.problems:
            out.print(problem, soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"{spec}: ok", soft_wrap=True)
