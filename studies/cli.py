"""The `attnsim` command line: list, show, analyse and run attention cascades."""

from __future__ import annotations

import importlib
import json
import sys
import re
import time
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import click
import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from einsum_cascades import (Cascade, CascadeError, analyse, check_attention, library, load,
                             random_inputs, run, symbolic_costs)
from einsum_cascades.reference import require_checkable
from archsim.spec import SpecError
from studies.arch_cli import arch_app
from studies.workloads import parse_count

out = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)


#: commands imported only when they run, so `attnsim cascades` does not pay for numba, pandas
#: and scipy: name -> (module, attribute: a command function or a Typer app, its one-line help)
LAZY: dict[str, tuple[str, str, str]] = {
    "evaluate": ("studies.evaluate_cli", "evaluate", "Map a workload with a design, score it, "
                 "and say how long, how much energy and why."),
    "compare": ("studies.compare_cli", "compare", "Compare designs over sequence lengths: "
                "latency, energy, traffic, speedup over the first."),
    "sweep": ("studies.sweep_cli", "sweep", "Evaluate a design at every point of a grid; rows "
              "go to Parquet as batches finish."),
    "plot": ("studies.plot_cli", "plot", "Plot a sweep: one line per value of --color, one "
             "panel per value of --facet."),
    "bound": ("studies.bound_cli", "bound_app",
              "Bounds: tile sparsity (GNA), roofline, DRAM traffic."),
    "reproduce": ("studies.reproduce_cli", "reproduce_app",
                  "Reproduce published results beside the published values."),
    "bench": ("studies.bench_cli", "bench",
              "Score a standard batch of mappings and report mappings per second."),
}


def lazy_command(name: str) -> click.Command:
    """Import the command NAME of LAZY and turn it into its Click command."""
    module, attr, _ = LAZY[name]
    obj = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, typer.Typer):
        obj, one = typer.Typer(add_completion=False, pretty_exceptions_enable=False), obj
        obj.command(name)(one)
        return typer.main.get_command(obj)
    return typer.main.get_group(obj)


def reflow(command: click.Command) -> click.Command:
    """Join the hard-wrapped lines of each help paragraph (and of its subcommands') so the
    terminal wraps them at its own width; paragraphs stay apart."""
    if command.help:
        command.help = "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", command.help))
    for sub in getattr(command, "commands", {}).values():
        reflow(sub)
    return command


class OneLineErrors(TyperGroup):
    """Typer's command group; a user error is one line `error: ...` on stderr (one per problem
    of a spec), exit code 2. The LAZY commands are imported when run (help lists them unloaded)."""

    listing = False  # True while the group's own help is drawn: LAZY commands stay unloaded

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The eager commands, then the lazy ones."""
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command NAME, importing it first if it is lazy (a stub while help is drawn)."""
        if name in LAZY and name not in self.commands:
            if self.listing:
                return click.Command(name, help=LAZY[name][2])
            self.add_command(lazy_command(name), name)
        command = super().get_command(ctx, name)
        return reflow(command) if command is not None else None

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The group's help, listing lazy commands by their one-line help without importing them."""
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False

    def main(self, *args: Any, **kwargs: Any) -> None:
        """Run the command line and exit with its status (never a traceback for user errors)."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except (typer.TyperException, CascadeError, SpecError, ValueError, OSError,
                MemoryError) as exc:
            lines = exc.problems if isinstance(exc, SpecError) else [error_message(exc)]
            for message in filter(None, lines):  # none after `attnsim` alone: help was printed
                err.print(f"error: {message}", style="red", soft_wrap=True)
            code = 2
        sys.exit(code if isinstance(code, int) else 0)


def error_message(exc: BaseException) -> str:
    """One line saying what went wrong (and for a usage error, where to get help)."""
    if not isinstance(exc, typer.TyperException):
        return " ".join((str(exc) or type(exc).__name__).split())
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    return f"{msg} (see '{ctx.command_path} --help')" if msg and ctx is not None else msg


app = typer.Typer(
    name="attnsim",
    cls=OneLineErrors,
    epilog="Examples: attnsim evaluate --arch fusemax --model bert --seq 64K; "
           "attnsim run one_pass --shape e=64,f=64,m=1K,p=256,m0=128 --check",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(arch_app, name="arch", help="Architecture specs: list, show and validate them.")


class Format(str, Enum):
    """Output format of a command."""

    table = "table"
    json = "json"


CascadeArg = Annotated[str, typer.Argument(
    metavar="CASCADE", help="A library cascade name (see 'attnsim cascades') or a .cascade file.",
    show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Print a table or JSON.")]


def package_version() -> str:
    """The installed version of attnsim, or 0+unknown when run from a source tree."""
    try:
        return version("attnsim")
    except PackageNotFoundError:
        return "0+unknown"


def show_version(value: bool) -> None:
    """Print the version and stop (eager --version option)."""
    if value:
        typer.echo(f"attnsim {package_version()}")
        raise typer.Exit()


VersionOpt = Annotated[bool, typer.Option(
    "--version", callback=show_version, is_eager=True, help="Print the version and exit.")]


@app.callback()
def root(version_: VersionOpt = False) -> None:
    """What attention costs on a chip: cascades of extended Einsums, mapped onto architectures.

    Start with a cascade (cascades, show, passes, run) and an architecture (arch list); then
    ask what a design costs (evaluate, compare), how it scales (sweep, plot), how far any
    mapping could go (bound), or re-derive a paper beside its numbers (reproduce). Every
    command's --help has examples.
    """


def print_json(data: Any) -> None:
    """Write `data` to stdout as indented JSON (never wrapped by Rich)."""
    typer.echo(json.dumps(data, indent=2))


def tensor_text(c: Cascade, name: str) -> str:
    """`Q[e,p]`: a tensor with its ranks."""
    return f"{name}[{','.join(c.tensors[name].ranks)}]"


def parse_shapes(text: str) -> dict[str, int]:
    """`e=64,m=1K` -> {"e": 64, "m": 1024}; a malformed item raises ValueError naming it."""
    shapes: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not (sep and name.isidentifier()):
            raise ValueError(f"bad --shape item '{item.strip()}': expected RANK=COUNT, "
                             f"as in --shape e=64,m=1K")
        try:
            number = parse_count(value)
        except ValueError as exc:
            raise ValueError(f"bad --shape item '{item.strip()}': {exc}") from None
        if name in shapes:
            raise ValueError(f"--shape gives rank '{name}' twice")
        shapes[name] = number
    return shapes


# ----------------------------------------------------------------------------- cascades
@app.command()
def cascades(fmt: FormatOpt = Format.table) -> None:
    """List the library cascades with their pass counts.

    Examples:

    attnsim cascades

    attnsim cascades --format json
    """
    rows = []
    for name in library.names():
        try:
            c = load(name)
            rows.append({"name": name, "max_passes": analyse(c).max_passes,
                         "einsums": len(c.einsums), "inputs": list(c.inputs),
                         "description": c.description})
        except CascadeError as exc:  # one broken file should not hide the others
            rows.append({"name": name, "max_passes": None, "einsums": None, "inputs": [],
                         "description": "", "error": str(exc)})
    if fmt is Format.json:
        print_json(rows)
        return
    table = Table(title="Library cascades")
    table.add_column("name", no_wrap=True)
    table.add_column("passes", justify="right")
    table.add_column("Einsums", justify="right")
    table.add_column("inputs", max_width=16)
    table.add_column("description", max_width=60)
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], "-", "-", "", f"error: {r['error']}", style="red")
        else:
            plain = re.sub(r"\s*\([^)]*\)", "", r["description"])
            short = re.split(r"[:;]\s|\.\s", plain, maxsplit=1)[0]
            table.add_row(r["name"], str(r["max_passes"]), str(r["einsums"]),
                          ", ".join(r["inputs"]), short)
    out.print(table)


# ----------------------------------------------------------------------------- show
@app.command()
def show(cascade: CascadeArg, fmt: FormatOpt = Format.table) -> None:
    """Show a cascade: Einsums, ranks, tensors, dependencies and symbolic op counts.

    Examples:

    attnsim show one_pass

    attnsim show my_attention.cascade --format json
    """
    c = load(cascade)
    costs = symbolic_costs(c)
    einsums = [{"einsum": str(e), "kind": e.kind, "output": e.output,
                "reduces": f"{e.reduce}({','.join(e.reduced)})" if e.reduced else None,
                "ops": {op: str(n) for op, n in ops.items()}}
               for e in c.einsums for ops in [costs.einsum_ops[e.key]]]
    ranks = [{"name": r.name, "shape": str(r.shape), "parent": r.parent, "part": r.part,
              "iterative": r.iterative} for r in c.ranks.values()]
    edges = [{"from": u, "to": v, "carried": bool(carried)}
             for u, v, carried in c.graph.edges(data="carried")]
    if fmt is Format.json:
        print_json({"cascade": c.name, "source": c.source, "description": c.description,
                    "inputs": list(c.inputs), "outputs": list(c.outputs), "einsums": einsums,
                    "ranks": ranks,
                    "tensors": {t: {"ranks": list(v.ranks), "size": str(costs.tensor_sizes[t])}
                                for t, v in c.tensors.items()},
                    "edges": edges,
                    "op_counts": {op: str(n) for op, n in costs.op_counts.items()}})
        return
    out.print(f"{c.name}  ({c.source})", style="bold")
    if c.description:
        out.print(c.description)
    out.print(f"inputs: {', '.join(tensor_text(c, t) for t in c.inputs)}   "
              f"outputs: {', '.join(tensor_text(c, t) for t in c.outputs)}")

    table = Table("#", "kind", "Einsum", "reduces", "ops (symbolic)", title="Einsums")
    table.columns[2].no_wrap = True
    for n, e in enumerate(einsums, 1):
        table.add_row(str(n), e["kind"], e["einsum"], e["reduces"] or "",
                      ", ".join(f"{op}: {k}" for op, k in e["ops"].items()))
    out.print(table)

    table = Table("rank", "shape", "split", "iterative", title="Ranks")
    for r in ranks:
        split = f"{r['part']} part of {r['parent']}" if r["parent"] else ""
        table.add_row(r["name"], r["shape"], split, "yes" if r["iterative"] else "")
    out.print(table)

    table = Table("tensor", "role", "size (elements)", title="Tensors")
    for t, v in c.tensors.items():
        role = "input" if v.is_input else "output" if t in c.outputs else ""
        table.add_row(tensor_text(c, t), role, str(costs.tensor_sizes[t]))
    out.print(table)

    table = Table("dependency", "note", title="Dependencies (DAG edges)")
    for e in edges:
        table.add_row(f"{e['from']} -> {e['to']}", "previous iterate" if e["carried"] else "")
    out.print(table)

    table = Table("operator", "count", title="Op counts (symbolic)")
    for op, n in costs.op_counts.items():
        table.add_row(op, str(n))
    out.print(table)


# ----------------------------------------------------------------------------- passes
@app.command()
def passes(cascade: CascadeArg, fmt: FormatOpt = Format.table) -> None:
    """Pass analysis: minimum passes over every rank of the inputs, and 1-pass footprints.

    Examples:

    attnsim passes three_pass

    attnsim passes one_pass --format json
    """
    c = load(cascade)
    report = analyse(c)
    if fmt is Format.json:
        print_json(report.to_dict())
        return
    out.print(f"{report.cascade}: {report.max_passes}-pass cascade (max over ranks)", style="bold")

    table = Table("rank", "passes", "1-pass live footprint (elements)", title="Passes per rank")
    for r, n in report.passes.items():
        table.add_row(r, str(n), str(report.footprint.get(r, "")))
    out.print(table)

    table = Table("input", "rank", "passes", title="Passes per input tensor")
    for t, per_rank in report.tensor_passes.items():
        for r, n in per_rank.items():
            table.add_row(t, r, str(n))
    out.print(table)

    if report.split_passes:
        table = Table("rank", "part", "passes", title="Split ranks")
        for r, n in report.split_passes.items():
            rank = c.ranks[r]
            scope = " (passes within a tile)" if rank.part == "inner" else ""
            table.add_row(r, f"{rank.part} part of {rank.parent}{scope}", str(n))
        out.print(table)


# ----------------------------------------------------------------------------- run
@app.command("run")
def run_cascade(
    cascade: CascadeArg,
    shape: Annotated[str, typer.Option(
        "--shape", "-s", show_default=False,
        help="Rank shapes as RANK=COUNT,... (64, 4K, 1M); outer split parts (m1) are derived.")],
    check: Annotated[bool, typer.Option(
        "--check", help="Compare the output with softmax attention; exit 1 if not.")] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random inputs.")] = 0,
    tol: Annotated[float, typer.Option(
        min=0.0, help="--check passes if max |error| <= TOL * max(1, max |output|).")] = 1e-8,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run a cascade on random inputs with the reference interpreter, counting operations.

    Examples:

    attnsim run one_pass --shape e=64,f=64,m=1024,p=256,m0=128 --check

    attnsim run three_pass -s e=8,f=8,m=37,p=5 --seed 1 --format json
    """
    c = load(cascade)
    given = parse_shapes(shape)
    shapes = c.resolve_shapes(given)
    if check:
        require_checkable(c)
    inputs = random_inputs(c, given, seed)
    start = time.perf_counter()
    result = run(c, inputs, given)
    elapsed_s = time.perf_counter() - start
    symbolic = symbolic_costs(c).evaluate(c, given)
    outputs = {}
    for name in c.outputs:
        values = result.tensors[name][result.valid[name]]
        outputs[name] = {"ranks": list(c.tensors[name].ranks),
                         "shape": list(result.tensors[name].shape),
                         "mean": float(values.mean()) if values.size else None,
                         "max_abs": float(np.abs(values).max()) if values.size else None}
    report: dict[str, Any] = {"cascade": c.name, "shapes": shapes, "seed": seed,
                              "outputs": outputs, "op_counts": result.op_counts,
                              "symbolic_op_counts": symbolic, "elapsed_s": elapsed_s}
    passed = True
    if check:
        error = check_attention(c, given, seed, inputs=inputs, result=result)
        scale = max([1.0] + [o["max_abs"] or 0.0 for o in outputs.values()])
        passed = error <= tol * scale
        report |= {"max_abs_error": error, "tolerance": tol * scale, "check_passed": passed}
    if fmt is Format.json:
        print_json(report)
    else:
        print_run(report)
    if not passed:
        raise typer.Exit(1)


def print_run(report: dict[str, Any]) -> None:
    """The table form of `attnsim run`'s report."""
    sizes = " ".join(f"{r}={n}" for r, n in report["shapes"].items())
    out.print(f"{report['cascade']}  shapes: {sizes}  seed: {report['seed']}", style="bold")

    table = Table("output", "ranks", "shape", "mean", "max |x|", title="Outputs")
    for name, o in report["outputs"].items():
        table.add_row(name, ",".join(o["ranks"]), "x".join(map(str, o["shape"])),
                      "-" if o["mean"] is None else f"{o['mean']:.6g}",
                      "-" if o["max_abs"] is None else f"{o['max_abs']:.6g}")
    out.print(table)

    table = Table("operator", "counted", "symbolic (dense)", title="Op counts")
    counted, symbolic = report["op_counts"], report["symbolic_op_counts"]
    for op in dict.fromkeys([*symbolic, *counted]):
        table.add_row(op, f"{counted.get(op, 0):,}", f"{symbolic.get(op, 0):,}")
    out.print(table)
    out.print(f"elapsed: {report['elapsed_s']:.3f} s")
    if "max_abs_error" in report:
        verdict = "pass" if report["check_passed"] else "FAIL"
        out.print(f"check {verdict}: max |error| = {report['max_abs_error']:.3g} against softmax "
                  f"attention (tolerance {report['tolerance']:.3g})", soft_wrap=True,
                  style="green" if report["check_passed"] else "bold red")


def main() -> None:
    """Entry point of the `attnsim` console script."""
    app(prog_name="attnsim")


if __name__ == "__main__":
    main()
