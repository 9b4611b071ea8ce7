"""`--grid NAME=VALUES`: one axis of a sweep, over a workload field or a spec field path.

NAME is a workload field (`seq`, `batch`, `heads`, `head_dim`; counts such as `4K`, binary
multiples) or a spec field path as `--set` names it (`global_buffer.capacity`, `dram.bandwidth`,
`pe2d.shape`, `pe2d.frequency`). VALUES is a comma list (`1MiB,4MiB`) or a geometric range
`START..STOP*FACTOR` (`256KiB..64MiB*2`; STOP included when reached; FACTOR may be fractional,
`1MiB..2MiB*1.1`, values then rounded to whole units). Array shapes are written `128x128`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable

from archsim.spec import SpecError, load_arch
from archsim.units import (format_bandwidth, format_frequency, format_size, parse_bandwidth,
                           parse_frequency, parse_size)

from .workloads import parse_counts

WORKLOAD_FIELDS = ("seq", "batch", "heads", "head_dim")
_SHAPE = re.compile(r"^\d+(x\d+)*$")
_MAX_VALUES = 1_000_000


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its name, its values as numbers (the Parquet column), and for a
    spec field the `--set` text of each value."""

    name: str
    values: tuple
    texts: tuple[str, ...]


#: spec value kinds: parse text to a number, format a number back to spec text
_KINDS: tuple[tuple[str, Callable[[str], float], Callable[[float], str]], ...] = (
    ("size", parse_size, format_size),
    ("bandwidth", parse_bandwidth, format_bandwidth),
    ("frequency", parse_frequency, format_frequency),
)


def _number(text: str) -> tuple[float, Callable[[float], str]]:
    """A spec value as a number and the way to write one like it back (units kept)."""
    for _, parse, fmt in _KINDS:
        try:
            return parse(text), fmt
        except ValueError:
            pass
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a value with units (16MiB, 400GiB/s, 940MHz), a "
                         f"number or a shape like 128x128") from None
    return v, lambda x: repr(int(x)) if float(x).is_integer() else repr(x)


def _geometric(text: str, parse: Callable[[str], tuple[float, Callable]]) -> list:
    """START..STOP*FACTOR as numbers (and the formatter of their kind)."""
    start, _, rest = text.partition("..")
    stop, star, factor = rest.rpartition("*")
    if not star or not start.strip() or not stop.strip():
        raise ValueError(f"a range is START..STOP*FACTOR, e.g. 256KiB..64MiB*2; got '{text}'")
    lo, fmt = parse(start.strip())
    hi, _ = parse(stop.strip())
    try:
        f = float(factor)
    except ValueError:
        raise ValueError(f"range factor '{factor}' is not a number (in '{text}')") from None
    if not (lo > 0 and hi >= lo and f > 1):
        raise ValueError(f"range '{text}' must grow: 0 < START <= STOP and FACTOR > 1")
    n = int(math.floor(math.log(hi / lo) / math.log(f) * (1 + 1e-12))) + 1
    if n > _MAX_VALUES:
        raise ValueError(f"range '{text}' has {n:,} values (at most {_MAX_VALUES:,})")
    return [lo * f ** k for k in range(n)], fmt


def parse_grid(item: str, arch: str = "fusemax", overrides: tuple[str, ...] = ()) -> Axis:
    """`NAME=VALUES` as an Axis; a bad item raises ValueError (or SpecError for a spec field
    path the architecture lacks) with one line naming the problem."""
    name, sep, text = (s.strip() for s in item.partition("="))
    if not sep or not name:
        raise ValueError(f"bad --grid '{item}': expected NAME=V1,V2,... or "
                         f"NAME=START..STOP*FACTOR, as in --grid global_buffer.capacity=1MiB..16MiB*2")
    if not text:
        raise ValueError(f"--grid {name}: no values after '='")
    if name in WORKLOAD_FIELDS:
        values = _counts(name, text)
        return Axis(name, tuple(values), tuple(str(v) for v in values))
    if "." not in name:
        close = difflib.get_close_matches(name, WORKLOAD_FIELDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else \
            f"workload fields: {', '.join(WORKLOAD_FIELDS)}; or a spec path like global_buffer.capacity"
        raise ValueError(f"--grid {name}: unknown field ({hint})")
    values, texts = _spec_values(f"--grid {name}", text)
    if len(set(texts)) != len(texts):
        raise ValueError(f"--grid {name}: values repeat after rounding ({text})")
    if len(set(values)) != len(values):  # 1MiB and 1024KiB: one point, run once
        raise ValueError(f"--grid {name}: a value repeats in other units ({text})")
    for k in sorted({0, len(texts) - 1} | ({values.index(min(values)), values.index(max(values))}
                                          if isinstance(values[0], float) else set())):
        _check_path(name, texts[k], arch, overrides)
    return Axis(name, tuple(values), tuple(texts))


def _counts(name: str, text: str) -> list[int]:
    """Workload values: counts (`4K` = 4096), a comma list or a geometric range."""
    try:
        values = parse_counts(text)
    except ValueError as exc:
        raise ValueError(f"--grid {name}: {exc}") from None
    if len(set(values)) != len(values):
        raise ValueError(f"--grid {name}: a value repeats ({text})")
    return values


def _spec_values(label: str, text: str) -> tuple[list, list[str]]:
    """Spec values as numbers (shapes as text) and their `--set` texts (errors name LABEL)."""
    try:
        if ".." in text:
            raw, fmt = _geometric(text, _number)
            whole = [float(round(v)) if v >= 1 else v for v in raw]
            return whole, [fmt(v) for v in whole]
        values, texts = [], []
        for t in (t.strip() for t in text.split(",")):
            if _SHAPE.match(t) and "x" in t:
                values.append(t)
                texts.append("[" + ", ".join(t.split("x")) + "]")
            else:
                v, fmt = _number(t)
                values.append(v)
                texts.append(t)
        if len({type(v) for v in values}) > 1:
            raise ValueError("shapes and numbers mixed")
        return values, texts
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def _check_path(name: str, text: str, arch: str, overrides: tuple[str, ...]) -> None:
    """The path exists in the spec and takes this kind of value (one line otherwise)."""
    try:
        load_arch(arch, (*overrides, f"{name}={text}"))
    except SpecError as exc:
        first = exc.problems[0] if exc.problems else str(exc)
        raise SpecError([f"--grid {first.split(': ', 1)[-1]}"]) from None


def parse_sizes(text: str, what: str) -> list[float]:
    """Sizes in bytes from a list or range with units (`64KiB..64MiB*2`, `1MiB,16MiB`)."""
    values, texts = _spec_values(what, text)
    try:
        sizes = [parse_size(t) for t in texts]
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    bad = [t for t, v in zip(texts, sizes) if not v > 0]
    if bad:
        raise ValueError(f"{what}: sizes must be > 0, got '{bad[0]}'")
    return sizes


#: the most points one sweep takes: listing and hashing them comes before any is evaluated
#: (10M points take minutes to list; at some 100 points/s per core, days to run)
MAX_POINTS = 10_000_000


def grid_size(axes: list[Axis]) -> int:
    """Points of the full grid (refused past MAX_POINTS, before anything is listed)."""
    n = math.prod(len(a.values) for a in axes)
    if n > MAX_POINTS:
        raise ValueError(f"the grid has {n:,} points (at most {MAX_POINTS:,} in one sweep): "
                         f"use fewer values per axis, or split it into sweeps")
    return n
