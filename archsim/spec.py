"""Architecture specs (docs/architecture-spec.md): YAML checked into an `Architecture`, every
problem reported as `FILE:LINE: FIELD: reason`."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from archsim.units import (UnitError, format_bandwidth, format_frequency, format_size,
                           format_technology, parse_bandwidth, parse_count, parse_fraction,
                           parse_frequency, parse_number, parse_size, parse_technology_nm)

SPEC_VERSIONS = (1,)
OPS = ("mac", "add", "mul", "max", "exp", "div")  # estimator op columns, and the priced actions
KINDS = ("memory", "compute", "link")
SUBSTRATES = ("spatial", "gpu", "storage")
MEMORY_CLASSES = ("sram", "registers", "dram", "hbm2e", "hbm3", "hbm3e", "gddr6", "ddr4",
                  "lpddr5", "nand")
LINK_CLASSES = ("pcie3", "pcie4", "pcie5", "nvlink4", "onchip")
PRESETS_DIR = Path(__file__).with_name("presets")

TOP_FIELDS = ("attnsim_spec", "name", "description", "substrate", "technology", "word_bits",
              "compute_capability", "components")
_COMMON = ("kind", "count", "description", "source")
FIELDS = {
    "memory": _COMMON + ("class", "parent", "capacity", "bandwidth", "width_bits", "banks",
                         "ports"),
    "compute": _COMMON + ("parent", "shape", "frequency", "ops", "units",
                          "register_file_entries", "attainable"),
    "link": _COMMON + ("between", "class", "bandwidth"),
}
OP_FIELDS = ("cycles", "actions")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

T = TypeVar("T")


class SpecError(Exception):
    """Every problem of one spec, each a line `FILE:LINE: FIELD: reason` (or `--set PATH: ...`)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Op:
    """One operator on one PE: the cycles it occupies and the priced actions it is made of."""

    cycles: float
    actions: dict[str, float]

    def to_data(self, name: str) -> float | dict[str, Any]:
        """`7`, or `{cycles: 7, actions: {...}}` when the op is not simply one action of itself."""
        cycles = _plain(self.cycles)
        if self.actions == {name: 1}:
            return cycles
        return {"cycles": cycles, "actions": {a: _plain(n) for a, n in self.actions.items()}}


@dataclass(frozen=True)
class Memory:
    """A storage level; capacity and bandwidth per instance (math.inf: unbounded, never limits)."""

    name: str
    cls: str
    parent: str | None
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    width_bits: int
    banks: int = 1
    ports: int = 1
    count: int = 1
    description: str = ""
    source: str = ""

    def to_data(self, word_bits: int) -> dict[str, Any]:
        """The spec fields of this memory in human units; defaults and infinities left out."""
        data: dict[str, Any] = {"kind": "memory", "class": self.cls}
        if self.parent is not None:
            data["parent"] = self.parent
        if math.isfinite(self.capacity_bytes):
            data["capacity"] = format_size(self.capacity_bytes)
        if math.isfinite(self.bandwidth_bytes_per_s):
            data["bandwidth"] = format_bandwidth(self.bandwidth_bytes_per_s)
        optional = {"width_bits": (self.width_bits, word_bits), "banks": (self.banks, 1),
                    "ports": (self.ports, 1), "count": (self.count, 1)}
        return data | _changed(optional) | _notes(self.description, self.source)


@dataclass(frozen=True)
class Compute:
    """An array of identical PEs (times `count` instances) that runs the operators in `ops`."""

    name: str
    parent: str
    shape: tuple[int, ...]
    count: int
    frequency_hz: float
    ops: dict[str, Op]
    units: tuple[str, ...] = ()
    register_file_entries: int = 0
    #: the share of its PEs the unit keeps busy at most in sustained use (a measured ceiling
    #: over the peak, e.g. the best dense GEMM a GPU runs over its datasheet rate); 1 = the peak
    attainable: float = 1.0
    description: str = ""
    source: str = ""

    @property
    def lanes(self) -> int:
        """PEs in all instances together."""
        return self.count * math.prod(self.shape)

    @property
    def attainable_lanes(self) -> float:
        """PEs the unit keeps busy at most at once (`attainable` x `lanes`)."""
        return self.attainable * self.lanes

    def to_data(self) -> dict[str, Any]:
        """The spec fields of this compute unit, with human units."""
        data = {"kind": "compute", "parent": self.parent, "shape": list(self.shape)}
        data |= _changed({"count": (self.count, 1), "register_file_entries":
                          (self.register_file_entries, 0), "units": (list(self.units), []),
                          "attainable": (self.attainable, 1.0)})
        data |= {"frequency": format_frequency(self.frequency_hz),
                 "ops": {op: self.ops[op].to_data(op) for op in OPS if op in self.ops}}
        return data | _notes(self.description, self.source)


@dataclass(frozen=True)
class Link:
    """A connection between two memories (of different trees), e.g. PCIe; bandwidth per instance."""

    name: str
    between: tuple[str, str]
    bandwidth_bytes_per_s: float
    cls: str = "pcie4"
    count: int = 1
    description: str = ""
    source: str = ""

    def to_data(self) -> dict[str, Any]:
        """The spec fields of this link, with human units."""
        data = {"kind": "link", "between": list(self.between), "class": self.cls,
                "bandwidth": format_bandwidth(self.bandwidth_bytes_per_s)}
        return data | _changed({"count": (self.count, 1)}) | _notes(self.description, self.source)


@dataclass(frozen=True)
class Architecture:
    """A checked spec: memories in trees (by `parent`), compute units under them, and links."""

    name: str
    description: str
    source_file: str
    technology_nm: float
    word_bits: int
    memories: dict[str, Memory]
    computes: dict[str, Compute]
    links: dict[str, Link] = field(default_factory=dict)
    substrate: str = "spatial"
    #: a GPU's CUDA compute capability (9.0: Hopper), which kernels it can run; None: not stated
    compute_capability: float | None = None

    def parent_chain(self, name: str) -> tuple[str, ...]:
        """`name` and the memories above it, up to its root."""
        parents = {n: m.parent for n, m in self.memories.items()}
        parents |= {n: c.parent for n, c in self.computes.items()}
        if name not in parents:
            raise KeyError(f"no memory or compute unit named '{name}' in {self.name}")
        chain = [name]
        while (parent := parents[chain[-1]]) is not None:
            chain.append(parent)
        return tuple(chain)

    def memory_path(self, unit: str) -> tuple[str, ...]:
        """The memories from the root down to compute unit `unit` (where its operands live)."""
        return tuple(reversed([x for x in self.parent_chain(unit) if x in self.memories]))

    def _by_level(self, names: Iterable[str]) -> tuple[str, ...]:
        """`names` sorted by (depth below their root, name): independent of YAML key order."""
        return tuple(sorted(names, key=lambda n: (len(self.parent_chain(n)), n)))

    def memory_levels(self) -> tuple[str, ...]:
        """Memory names, roots first, then breadth-first down the trees, ties broken by name."""
        return self._by_level(self.memories)

    def roots(self) -> tuple[str, ...]:
        """The memories with no parent (DRAM, HBM, flash, host DRAM)."""
        return tuple(n for n in self.memory_levels() if self.memories[n].parent is None)

    def units(self) -> tuple[str, ...]:
        """Compute unit names sorted by (depth, name)."""
        return self._by_level(self.computes)

    def link_names(self) -> tuple[str, ...]:
        """Link names, sorted."""
        return tuple(sorted(self.links))

    def to_dict(self) -> dict[str, Any]:
        """Plain data with human units: a spec that loads back into an equal Architecture."""
        components = {n: self.memories[n].to_data(self.word_bits) for n in self.memory_levels()}
        components |= {n: self.computes[n].to_data() for n in self.units()}
        components |= {n: self.links[n].to_data() for n in self.link_names()}
        return {"attnsim_spec": SPEC_VERSIONS[-1], "name": self.name,
                "description": self.description, "substrate": self.substrate,
                "technology": format_technology(self.technology_nm),
                "word_bits": self.word_bits} | (
            {"compute_capability": self.compute_capability}
            if self.compute_capability is not None else {}) | {"components": components}

    def to_yaml(self) -> str:
        """This architecture as a spec file (without the presets' source comments)."""
        return yaml.dump(self.to_dict(), Dumper=_SpecDumper, sort_keys=False, width=100)

    def with_overrides(self, overrides: Sequence[str]) -> Architecture:
        """This architecture with `--set` overrides (`global_buffer.capacity=8MiB`) applied."""
        text = self.to_yaml()
        return replace(parse_spec(text, f"<{self.name}>", overrides), source_file=self.source_file)


class _SpecDumper(yaml.SafeDumper):
    """YAML as specs are written: block mappings, flow lists (`shape: [256, 256]`)."""


_SpecDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def _plain(x: float) -> int | float:
    """7.0 -> 7, so that specs print as people write them."""
    return int(x) if float(x).is_integer() else x


def _changed(fields: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The fields `{key: (value, default)}` whose value is not the spec's default."""
    return {key: value for key, (value, default) in fields.items() if value != default}


def _notes(description: str, source: str) -> dict[str, str]:
    """The non-empty ones of `description` and `source`."""
    return {k: v for k, v in (("description", description), ("source", source)) if v}


# ----------------------------------------------------------------------------- YAML with lines
@dataclass
class _Value:
    """A YAML value (dict of _Value, list of _Value, or scalar) and where it came from."""

    data: Any
    origin: str  # the file, or `--set PATH` for an override
    line: int | None = None

    @property
    def where(self) -> str:
        """`FILE:LINE`, or `--set PATH`."""
        return self.origin if self.line is None else f"{self.origin}:{self.line}"

    def bare(self) -> Any:
        """The value as plain data, without the lines (how a message quotes it)."""
        if isinstance(self.data, dict):
            return {k: v.bare() for k, v in self.data.items()}
        if isinstance(self.data, list):
            return [v.bare() for v in self.data]
        return self.data


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _field_path(path: str, key: str) -> str:
    """The dotted path of `key` under `path`; components are named without a `components.`."""
    return key if path in ("", "components") else f"{path}.{key}"


def _tree(node: yaml.Node, origin: str, line: int | None, path: str,
          problems: list[tuple[_Value, str]]) -> _Value:
    """The _Value tree of a composed YAML node; a mapping entry is placed at its key's line."""
    def line_of(n: yaml.Node) -> int | None:
        return None if line is None else n.start_mark.line + 1

    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
        problems.append((_Value(None, origin, line), f"{path or 'spec'}: YAML tag '{node.tag}' "
                                                     f"is not allowed"))
        return _Value(None, origin, line)
    if isinstance(node, yaml.MappingNode):
        items: dict[str, _Value] = {}
        for key, value in node.value:
            here = _Value(None, origin, line_of(key))
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is None:
                problems.append((here, f"{path or 'spec'}: a key must be a plain name"))
            elif name in items:
                problems.append((here, f"{_field_path(path, name)}: duplicate key"))
            else:
                items[name] = _tree(value, origin, here.line, _field_path(path, name), problems)
        return _Value(items, origin, line)
    if isinstance(node, yaml.SequenceNode):
        return _Value([_tree(n, origin, line_of(n), f"{path}[{i}]", problems)
                       for i, n in enumerate(node.value)], origin, line)
    try:
        return _Value(_CONSTRUCTOR.construct_object(node), origin, line)
    except yaml.YAMLError as exc:  # e.g. an explicit tag the safe loader does not construct
        here = _Value(None, origin, line_of(node))
        problems.append((here, f"{path}: {getattr(exc, 'problem', None) or exc}"))
        return _Value(None, origin, line)


def _syntax_problem(exc: yaml.YAMLError, file: str) -> str:
    """`FILE:LINE: invalid YAML: reason` for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{file}: invalid YAML: {exc}"
    context = getattr(exc, "context", None)
    return (f"{file}:{mark.line + 1}: invalid YAML: {exc.problem}"
            + (f" ({context})" if context else ""))


def _paths(value: _Value, prefix: str = "") -> Iterator[str]:
    """Every dotted path of a mapping tree, as --set names them."""
    if isinstance(value.data, dict):
        for key, child in value.data.items():
            path = _field_path(prefix, key)
            yield path
            yield from _paths(child, path)


def _apply_override(tree: _Value, item: str, problems: list[tuple[_Value, str]]) -> None:
    """Set `PATH=VALUE` in `tree`; every key of PATH must exist except a component's new field."""
    path, sep, text = (s.strip() for s in item.partition("="))
    here = _Value(None, f"--set {path or item}")
    if not sep or not path:
        problems.append((here, f"{item}: expected PATH=VALUE, as in "
                               f"--set global_buffer.capacity=8MiB"))
        return
    try:
        node = _compose(text, f"--set {path}")
    except yaml.YAMLError as exc:
        problems.append((here, f"{path}: bad value '{text}': {getattr(exc, 'problem', exc)}"))
        return
    except SpecError as exc:
        problems.append((here, f"{path}: {exc.problems[0].split(': ', 1)[1]}"))
        return
    if node is None:
        problems.append((here, f"{path}: no value after '='"))
        return
    keys = path.split(".")
    if keys[0] not in TOP_FIELDS:
        keys.insert(0, "components")
    may_be_new = len(keys) > 2 or keys[0] != "components"
    target = tree
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if not isinstance(target.data, dict) or not (key in target.data or last and may_be_new):
            problems.append((here, f"{path}: no such path in the spec{_closest_path(tree, path)}"))
            return
        if last:
            target.data[key] = _tree(node, here.origin, None, path, problems)
        target = target.data[key]


def _closest_path(tree: _Value, path: str) -> str:
    """` (closest: 'x.y')` for the most similar existing path, or nothing."""
    close = difflib.get_close_matches(path, list(_paths(tree)), n=1, cutoff=0.5)
    return f" (closest: '{close[0]}')" if close else ""


def _suggest(word: str, choices: Sequence[str], noun: str) -> str:
    """` (did you mean 'x'?)` when a choice is close to `word`, else ` (NOUN: a, b, c)`."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" ({noun}: {', '.join(choices)})"


def _shown(data: Any) -> str:
    """How a wrong value is quoted in a message."""
    return "a mapping" if isinstance(data, dict) else "a list" if isinstance(data, list) \
        else f"'{data}'"


# ----------------------------------------------------------------------------- checking
class _Checker:
    """Walks a spec tree into an Architecture, collecting every problem instead of stopping."""

    def __init__(self, problems: list[tuple[_Value, str]]) -> None:
        self.problems = problems
        self.refs: list[tuple[_Value, str, str]] = []  # (where, field path, memory it names)

    def fail(self, value: _Value, path: str, reason: str) -> None:
        """Record `path: reason` at `value`'s place."""
        self.problems.append((value, f"{path}: {reason}"))

    def fields(self, value: _Value, path: str, kind: str, allowed: Sequence[str],
               required: Sequence[str]) -> dict[str, _Value]:
        """The fields of mapping `value`; unknown and missing fields are problems."""
        if not isinstance(value.data, dict):
            self.fail(value, path or "spec",
                      f"expected a mapping of fields, got {_shown(value.data)}")
            return {}
        for key, item in value.data.items():
            if key not in allowed:
                self.fail(item, _field_path(path, key),
                          f"unknown field of {kind}{_suggest(key, allowed, 'fields')}")
        for key in required:
            if key not in value.data:
                self.fail(value, _field_path(path, key), f"missing (required for {kind})")
        return value.data

    def convert(self, value: _Value, path: str, parse: Callable[[Any], T],
                allow_zero: bool = False) -> T | None:
        """`parse(value)`, which must be > 0 (or >= 0); None after recording a problem."""
        try:
            result = parse(value.bare())
        except UnitError as exc:
            self.fail(value, path, str(exc))
            return None
        if not (result > 0 or allow_zero and result == 0):  # type: ignore[operator]
            self.fail(value, path, f"must be {'>=' if allow_zero else '>'} 0, got '{value.data}'")
            return None
        return result

    def get(self, fields: dict[str, _Value], path: str, key: str, parse: Callable[[Any], T],
            default: T, allow_zero: bool = False) -> T | None:
        """Field `key` parsed by `parse`, or `default` when absent."""
        if key not in fields:
            return default
        return self.convert(fields[key], _field_path(path, key), parse, allow_zero)

    def text(self, fields: dict[str, _Value], path: str, key: str, default: str = "") -> str:
        """A text field (name, description, source)."""
        value = fields.get(key)
        if value is None:
            return default
        if not isinstance(value.data, str) or not value.data.strip():
            self.fail(value, _field_path(path, key), f"expected text, got {_shown(value.data)}")
            return default
        return value.data

    def choice(self, fields: dict[str, _Value], path: str, key: str, choices: Sequence[str],
               noun: str, default: str | None = None) -> str | None:
        """A field whose value is one of `choices`."""
        value = fields.get(key)
        if value is None:
            return default
        return self.one_of(value, _field_path(path, key), choices, noun)

    def one_of(self, value: _Value, path: str, choices: Sequence[str], noun: str) -> str | None:
        """`value` if it is one of `choices`, else None after a problem naming the closest."""
        if isinstance(value.data, str) and value.data in choices:
            return value.data
        self.fail(value, path, f"unknown {noun} {_shown(value.data)}"
                  f"{_suggest(str(value.data), choices, noun + ('es' if noun.endswith('s') else 's'))}")
        return None

    def reference(self, fields: dict[str, _Value], path: str, key: str) -> str | None:
        """A `parent` field: a component name, checked against the others once all are read."""
        value = fields.get(key)
        if value is None:
            return None
        if not isinstance(value.data, str):
            self.fail(value, _field_path(path, key), f"expected a component name, "
                                                      f"got {_shown(value.data)}")
            return None
        self.refs.append((value, _field_path(path, key), value.data))
        return value.data

    def integers(self, value: _Value, path: str) -> tuple[int, ...] | None:
        """A non-empty list of integers > 0 (a shape)."""
        if not isinstance(value.data, list) or not value.data:
            self.fail(value, path, f"expected a list of integers like [256, 256], "
                                   f"got {_shown(value.data)}")
            return None
        items = [self.convert(v, f"{path}[{i}]", parse_count) for i, v in enumerate(value.data)]
        return None if None in items else tuple(items)  # type: ignore[arg-type]

    def action_list(self, value: _Value, path: str) -> tuple[str, ...] | None:
        """A list of action names (a PE's functional units)."""
        if not isinstance(value.data, list):
            self.fail(value, path, f"expected a list of actions like [mac, add], "
                                   f"got {_shown(value.data)}")
            return None
        names = [self.one_of(v, f"{path}[{i}]", OPS, "action") for i, v in enumerate(value.data)]
        return None if None in names else tuple(names)  # type: ignore[arg-type]

    def op(self, name: str, value: _Value, path: str) -> Op | None:
        """`7` or `{cycles: 7, actions: {mac: 6, add: 1}}`; actions default to the op itself."""
        if not isinstance(value.data, dict):
            cycles = self.convert(value, path, parse_number)
            return None if cycles is None else Op(cycles, {name: 1.0})
        fields = self.fields(value, path, "an op", OP_FIELDS, ("cycles",))
        cycles = self.get(fields, path, "cycles", parse_number, None)
        actions: dict[str, float] | None = {name: 1.0}
        if "actions" in fields:
            actions = self.action_counts(fields["actions"], f"{path}.actions")
        return None if cycles is None or actions is None else Op(cycles, actions)

    def action_counts(self, value: _Value, path: str) -> dict[str, float] | None:
        """A mapping action -> number > 0 (what an op is made of)."""
        if not isinstance(value.data, dict):
            self.fail(value, path, f"expected a mapping like {{mac: 6, add: 1}}, "
                                   f"got {_shown(value.data)}")
            return None
        counts = {}
        for action, item in value.data.items():
            counts[action] = self.convert(item, f"{path}.{action}", parse_number)
            if action not in OPS:
                self.fail(item, f"{path}.{action}",
                          f"unknown action{_suggest(action, OPS, 'actions')}")
        return None if None in counts.values() or not set(counts) <= set(OPS) else counts

    def ops(self, value: _Value, path: str) -> dict[str, Op] | None:
        """The `ops` mapping of a compute unit."""
        if not isinstance(value.data, dict) or not value.data:
            self.fail(value, path, "expected a mapping op -> cycles, like {mac: 1, exp: {cycles: "
                                   "7, actions: {mac: 6, add: 1}}}")
            return None
        ops = {}
        for name, item in value.data.items():
            if name not in OPS:
                self.fail(item, f"{path}.{name}", f"unknown op{_suggest(name, OPS, 'ops')}")
            else:
                ops[name] = self.op(name, item, f"{path}.{name}")
        return None if None in ops.values() or len(ops) < len(value.data) else ops

    # -------------------------------------------------------------------- components
    def memory(self, name: str, value: _Value, word_bits: int | None) -> Memory:
        """A `kind: memory` component; a root needs a bandwidth, a non-root a capacity."""
        root = "parent" not in value.data
        fields = self.fields(value, name, "a memory", FIELDS["memory"],
                             ("bandwidth",) if root else ("capacity",))
        return Memory(
            name=name, cls=self.choice(fields, name, "class", MEMORY_CLASSES, "class", "sram"),
            parent=self.reference(fields, name, "parent"),
            capacity_bytes=self.get(fields, name, "capacity", parse_size, math.inf),
            bandwidth_bytes_per_s=self.get(fields, name, "bandwidth", parse_bandwidth, math.inf),
            width_bits=self.get(fields, name, "width_bits", parse_count, word_bits),
            banks=self.get(fields, name, "banks", parse_count, 1),
            ports=self.get(fields, name, "ports", parse_count, 1),
            count=self.get(fields, name, "count", parse_count, 1),
            description=self.text(fields, name, "description"),
            source=self.text(fields, name, "source"))  # type: ignore[arg-type]

    def compute(self, name: str, value: _Value, word_bits: int | None) -> Compute:
        """A `kind: compute` component."""
        fields = self.fields(value, name, "a compute unit", FIELDS["compute"],
                             ("parent", "frequency", "ops"))
        shape = self.integers(fields["shape"], f"{name}.shape") if "shape" in fields else (1,)
        units = self.action_list(fields["units"], f"{name}.units") if "units" in fields else ()
        return Compute(
            name=name, parent=self.reference(fields, name, "parent"), shape=shape,
            count=self.get(fields, name, "count", parse_count, 1),
            frequency_hz=self.get(fields, name, "frequency", parse_frequency, None),
            ops=self.ops(fields["ops"], f"{name}.ops") if "ops" in fields else None,
            units=units,
            register_file_entries=self.get(fields, name, "register_file_entries", parse_count, 0,
                                           allow_zero=True),
            attainable=self.get(fields, name, "attainable", parse_fraction, 1.0),
            description=self.text(fields, name, "description"),
            source=self.text(fields, name, "source"))  # type: ignore[arg-type]

    def link(self, name: str, value: _Value, word_bits: int | None) -> Link:
        """A `kind: link` component between two memories."""
        fields = self.fields(value, name, "a link", FIELDS["link"], ("between", "bandwidth"))
        between = None
        if "between" in fields:
            ends = fields["between"]
            path = f"{name}.between"
            if not (isinstance(ends.data, list) and len(ends.data) == 2
                    and all(isinstance(e.data, str) for e in ends.data)):
                self.fail(ends, path, f"expected two memory names like [drive_dram, host_dram], "
                                      f"got {_shown(ends.data)}")
            elif ends.data[0].data == ends.data[1].data:
                self.fail(ends, path, "a link joins two different memories")
            else:
                between = (ends.data[0].data, ends.data[1].data)
                self.refs += [(e, path, e.data) for e in ends.data]
        return Link(
            name=name, between=between,
            bandwidth_bytes_per_s=self.get(fields, name, "bandwidth", parse_bandwidth, None),
            cls=self.choice(fields, name, "class", LINK_CLASSES, "class", "pcie4"),
            count=self.get(fields, name, "count", parse_count, 1),
            description=self.text(fields, name, "description"),
            source=self.text(fields, name, "source"))  # type: ignore[arg-type]

    # -------------------------------------------------------------------- structure
    def structure(self, components: dict[str, Memory | Compute | Link],
                  where: dict[str, _Value]) -> None:
        """References name memories, parents form no cycle, and every memory feeds something."""
        before = len(self.problems)
        names = sorted(where)
        for value, path, target in self.refs:
            if target in where and target not in components:
                continue  # its kind is wrong, which is reported already
            if target not in components:
                self.fail(value, path, f"unknown component '{target}'"
                                       f"{_suggest(target, names, 'components')}")
            elif not isinstance(components[target], Memory):
                kind = "compute unit" if isinstance(components[target], Compute) else "link"
                self.fail(value, path, f"'{target}' is a {kind}, not a memory")
        bad_refs = len(self.problems) > before
        parents = {n: c.parent for n, c in components.items()
                   if isinstance(c, Memory) and c.parent is not None}
        for cycle in _cycles(parents):
            self.fail(where[cycle[0]].data["parent"], f"{cycle[0]}.parent",
                      f"parent cycle {' -> '.join(cycle + [cycle[0]])}")
        broken_link = any(isinstance(c, Link) and c.between is None for c in components.values())
        if bad_refs or len(components) < len(where) or broken_link:
            return  # a misspelt name, kind or link would also show up as feeding nothing
        fed = {c.parent for c in components.values() if not isinstance(c, Link)}
        fed |= {end for c in components.values() if isinstance(c, Link) for end in c.between}
        for name in names:
            if isinstance(components[name], Memory) and name not in fed:
                self.fail(where[name], name, "feeds nothing: no memory or compute unit has it as "
                                             "parent and no link joins it")


def _cycles(parents: dict[str, str]) -> list[list[str]]:
    """Each cycle of the parent relation once, starting at its smallest name."""
    seen: set[str] = set()
    cycles = []
    for start in sorted(parents):
        path: list[str] = []
        node = start
        while node in parents and node not in seen:
            seen.add(node)
            path.append(node)
            node = parents[node]
        if node in path:
            cycle = path[path.index(node):]
            first = cycle.index(min(cycle))
            cycles.append(cycle[first:] + cycle[:first])
    return cycles


def _check(tree: _Value, problems: list[tuple[_Value, str]]) -> Architecture | None:
    """The Architecture of `tree`, or None with every problem recorded in `problems`."""
    check = _Checker(problems)
    if isinstance(tree.data, dict):
        version = tree.data.get("attnsim_spec")
        supported = ", ".join(map(str, SPEC_VERSIONS))
        if version is None:
            check.fail(tree, "attnsim_spec", f"missing: the first line of a spec says its format "
                                             f"version, attnsim_spec: {SPEC_VERSIONS[-1]} "
                                             f"(supported: {supported})")
        elif type(version.data) is not int or version.data not in SPEC_VERSIONS:
            raise SpecError([f"{version.where}: attnsim_spec: version {_shown(version.data)} is "
                             f"not supported (supported: {supported})"])
    top = check.fields(tree, "", "a spec", TOP_FIELDS, ("name", "components"))
    word_bits = check.get(top, "", "word_bits", parse_count, 16)
    arch: dict[str, Any] = {
        "name": check.text(top, "", "name"), "description": check.text(top, "", "description"),
        "substrate": check.choice(top, "", "substrate", SUBSTRATES, "substrate", "spatial"),
        "technology_nm": check.get(top, "", "technology", parse_technology_nm, 45.0),
        "compute_capability": check.get(top, "", "compute_capability", parse_number, None),
        "word_bits": word_bits}
    listed = top.get("components", _Value({}, tree.origin, tree.line))
    if not isinstance(listed.data, dict) or not listed.data:
        check.fail(listed, "components", "expected a mapping of named components")
        return None
    components: dict[str, Memory | Compute | Link] = {}
    for name in sorted(listed.data):
        value = listed.data[name]
        if not _NAME.fullmatch(name):
            check.fail(value, name, "a component name is letters, digits and _ (--set uses dots)")
        if not isinstance(value.data, dict):
            check.fail(value, name, f"expected a mapping with a kind (memory, compute or link), "
                                    f"got {_shown(value.data)}")
        elif "kind" not in value.data:
            check.fail(value, f"{name}.kind", "missing (memory, compute or link)")
        elif kind := check.one_of(value.data["kind"], f"{name}.kind", KINDS, "kind"):
            components[name] = getattr(check, kind)(name, value, word_bits)
    check.structure(components, listed.data)
    if problems:
        return None
    return Architecture(
        **arch, source_file=tree.origin,
        memories={n: c for n, c in components.items() if isinstance(c, Memory)},
        computes={n: c for n, c in components.items() if isinstance(c, Compute)},
        links={n: c for n, c in components.items() if isinstance(c, Link)})


# ----------------------------------------------------------------------------- loading
#: nesting beyond this is no spec (a spec is at most a few levels deep); deeper input would
#: exhaust Python's recursion in the YAML composer
MAX_DEPTH = 64


def _compose(text: str, file: str) -> yaml.Node | None:
    """The YAML node tree of `text`; aliases (which may recurse or expand exponentially) and
    absurd nesting are refused with the line they are on. Raises yaml.YAMLError or SpecError."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise SpecError([f"{file}:{line}: YAML alias *{event.anchor}: aliases are not "
                             f"supported in a spec; write the value out"])
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([f"{file}:{line}: nested more than {MAX_DEPTH} levels deep; "
                                 f"a spec is a mapping of components a few levels deep"])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_spec(text: str, file: str = "<spec>", overrides: Sequence[str] = ()) -> Architecture:
    """Check spec `text` (from `file`, which messages name) with `--set` overrides applied."""
    try:
        node = _compose(text, file)
    except yaml.YAMLError as exc:
        raise SpecError([_syntax_problem(exc, file)]) from None
    if node is None:
        raise SpecError([f"{file}:1: spec: the file is empty; a spec starts with attnsim_spec: 1"])
    problems: list[tuple[_Value, str]] = []
    tree = _tree(node, file, 1, "", problems)
    if isinstance(tree.data, dict):
        for item in overrides:
            _apply_override(tree, item, problems)
    arch = _check(tree, problems)
    if arch is None:
        ordered = sorted(problems, key=lambda p: (p[0].line is None, p[0].line or 0))
        raise SpecError([f"{value.where}: {message}" for value, message in ordered])
    return arch


def preset_names() -> list[str]:
    """Names of the preset architectures, sorted."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The file of preset `name`."""
    return PRESETS_DIR / f"{name}.yaml"


def load_arch(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Architecture:
    """A preset by name (`fusemax`) or a spec file by path, with `--set` overrides applied."""
    text = str(name_or_path)
    if not isinstance(name_or_path, Path) and text in preset_names():
        return parse_spec(preset_path(text).read_text(), f"{text}.yaml", overrides)
    path = Path(text)
    if not path.is_file():
        if path.is_dir():
            raise SpecError([f"{text}: a directory, not a spec file"])
        if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
            raise SpecError([f"{text}: no such file"])
        raise SpecError([f"no preset architecture or file named '{text}'"
                         f"{_suggest(text, preset_names(), 'presets')}"])
    try:
        content = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{text}: cannot read: {exc}"]) from None
    return parse_spec(content, text, overrides)
