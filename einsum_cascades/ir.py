"""The cascade IR: ranks, tensors, extended Einsums and the Cascade that orders them.

An extended Einsum evaluates a map expression at every point of its iteration space (the ranks
of its output and of its operands) and reduces the ranks absent from its output with a reduce
operator (sum or max). Ranks can be split (m -> m1, m0 with m = m1*M0 + m0) and can be
iterative (RM[m1+1,p] = max(RM[m1,p], LM[m1,p]) with an initial value RM[0,p] and a final value
RM[M1,p], M1 being the stopping rank's shape).
"""

from __future__ import annotations

import copy
from functools import cached_property
from dataclasses import dataclass, field, replace
from typing import Iterator, Literal, Union

import networkx as nx
import sympy

from .errors import CascadeError, Pos

BINARY_OPS = ("+", "-", "*", "/", "max")
UNARY_OPS = ("neg", "exp")
REDUCE_OPS = ("sum", "max")
#: Every operator an op count can name (map operators, then the reduce operators as "sum"/"max").
OPERATORS = ("*", "+", "-", "/", "max", "exp", "neg")


# ----------------------------------------------------------------------------- indices
@dataclass(frozen=True)
class RankIdx:
    """A rank variable, optionally the next iterate of an iterative rank (`m1+1`)."""

    rank: str
    offset: int = 0

    def __str__(self) -> str:
        return self.rank + (f"+{self.offset}" if self.offset else "")


@dataclass(frozen=True)
class SplitIdx:
    """`m1*M0+m0`: position of rank `parent` from its outer and inner parts."""

    outer: str
    inner: str
    parent: str

    def __str__(self) -> str:
        return f"{self.outer}*{shape_name(self.inner)}+{self.inner}"


@dataclass(frozen=True)
class ConstIdx:
    """A fixed position, used for the initial value of an iterative rank (`RM[0,p]`)."""

    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class FinalIdx:
    """`M1`: the final value of an iterative rank (the position equal to its shape)."""

    rank: str

    def __str__(self) -> str:
        return shape_name(self.rank)


Index = Union[RankIdx, SplitIdx, ConstIdx, FinalIdx]


def shape_name(rank: str) -> str:
    """Shape symbol name of a rank: m -> M, m0 -> M0."""
    return rank.upper()


def shape_symbol(rank: str) -> sympy.Symbol:
    """The sympy symbol for a rank's shape (positive integer)."""
    return sympy.Symbol(shape_name(rank), positive=True, integer=True)


def index_ranks(idx: Index) -> tuple[str, ...]:
    """Iteration-space ranks an index ranges over."""
    if isinstance(idx, RankIdx):
        return (idx.rank,)
    if isinstance(idx, SplitIdx):
        return (idx.outer, idx.inner)
    return ()


# ----------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Ref:
    """A read of tensor `tensor` at `indices`."""

    tensor: str
    indices: tuple[Index, ...]
    pos: Pos = field(compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return f"{self.tensor}[{','.join(str(i) for i in self.indices)}]"

    @cached_property
    def ranks(self) -> tuple[str, ...]:
        return tuple(r for i in self.indices for r in index_ranks(i))


@dataclass(frozen=True)
class Const:
    """A numeric literal (inf allowed)."""

    value: float

    def __str__(self) -> str:
        v = self.value
        if v == float("inf"):
            return "inf"
        if v == float("-inf"):
            return "-inf"
        return repr(int(v)) if float(v).is_integer() else repr(v)


@dataclass(frozen=True)
class Unary:
    """`exp(x)` or `-x`."""

    op: Literal["neg", "exp"]
    arg: "Expr"

    def __str__(self) -> str:
        return f"-{_paren(self.arg)}" if self.op == "neg" else f"exp({self.arg})"


@dataclass(frozen=True)
class Binary:
    """`a + b`, `a - b`, `a * b`, `a / b` or `max(a, b)`."""

    op: Literal["+", "-", "*", "/", "max"]
    lhs: "Expr"
    rhs: "Expr"

    def __str__(self) -> str:
        if self.op == "max":
            return f"max({self.lhs}, {self.rhs})"
        return f"{_paren(self.lhs)} {self.op} {_paren(self.rhs)}"


Expr = Union[Ref, Const, Unary, Binary]


def _paren(e: Expr) -> str:
    return f"({e})" if isinstance(e, Binary) and e.op != "max" else str(e)


def walk(expr: Expr) -> Iterator[Expr]:
    """All nodes of an expression, operands before the node that uses them."""
    if isinstance(expr, Unary):
        yield from walk(expr.arg)
    elif isinstance(expr, Binary):
        yield from walk(expr.lhs)
        yield from walk(expr.rhs)
    yield expr


def refs(expr: Expr) -> list[Ref]:
    """The tensor reads of an expression, left to right."""
    return [n for n in walk(expr) if isinstance(n, Ref)]


def expr_ranks(expr: Expr) -> tuple[str, ...]:
    """Iteration ranks an expression ranges over, in order of first appearance."""
    seen: dict[str, None] = {}
    for r in refs(expr):
        for rank in r.ranks:
            seen.setdefault(rank)
    return tuple(seen)


def node_op(node: Expr) -> str | None:
    """The operator a node applies, or None for reads and literals."""
    return node.op if isinstance(node, (Unary, Binary)) else None


# ----------------------------------------------------------------------------- Einsum
EinsumKind = Literal["compute", "init", "update"]


@dataclass(frozen=True)
class Einsum:
    """One extended Einsum: output[out_indices] = reduce(expr) over `reduced` ranks."""

    output: str
    out_indices: tuple[Index, ...]
    expr: Expr
    reduce: Literal["sum", "max"]
    kind: EinsumKind
    pos: Pos = field(compare=False, hash=False, repr=False)
    text: str = field(default="", compare=False, hash=False, repr=False)

    @property
    def key(self) -> str:
        """Name of this Einsum in reports: the output, `RM[0]` for an initial value and
        `RM[m1+1]` for an update."""
        if self.kind == "init":
            return f"{self.output}[0]"
        if self.kind == "update":
            return f"{self.output}[{self.iterative_rank}+1]"
        return self.output

    @cached_property
    def out_ranks(self) -> tuple[str, ...]:
        """Ranks the output is indexed by at this Einsum (an init's fixed position excluded)."""
        return tuple(i.rank for i in self.out_indices if isinstance(i, RankIdx))

    @property
    def iterative_rank(self) -> str | None:
        """The rank this Einsum steps (`m1` in RM[m1+1,p] = ...), if it is an update."""
        for i in self.out_indices:
            if isinstance(i, RankIdx) and i.offset:
                return i.rank
        return None

    @cached_property
    def space(self) -> tuple[str, ...]:
        """Iteration space: output ranks, then the reduced ranks."""
        return self.out_ranks + self.reduced

    @cached_property
    def reduced(self) -> tuple[str, ...]:
        """Ranks of the operands absent from the output (reduced by `reduce`)."""
        out = set(self.out_ranks)
        return tuple(r for r in expr_ranks(self.expr) if r not in out)

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Tensors read, without repeats."""
        return tuple(dict.fromkeys(r.tensor for r in refs(self.expr)))

    @property
    def map_ops(self) -> tuple[str, ...]:
        """Map operators applied at each point of the iteration space (empty for a copy)."""
        return tuple(op for n in walk(self.expr) if (op := node_op(n)))

    @property
    def map_op(self) -> str:
        """The outermost map operator, or 'copy' for a pass-through."""
        return node_op(self.expr) or ("copy" if isinstance(self.expr, Ref) else "const")

    def __str__(self) -> str:
        lhs = f"{self.output}[{','.join(str(i) for i in self.out_indices)}]"
        rhs = str(self.expr)
        if self.reduced and self.reduce == "max":
            rhs = f"max({rhs})"
        return f"{lhs} = {rhs}"


# ----------------------------------------------------------------------------- ranks, tensors
@dataclass(frozen=True)
class Rank:
    """A rank with a symbolic shape; split parts know their parent (m1, m0 of m)."""

    name: str
    parent: str | None = None
    part: Literal["outer", "inner"] | None = None
    iterative: bool = False

    @property
    def shape(self) -> sympy.Symbol:
        return shape_symbol(self.name)


@dataclass(frozen=True)
class Tensor:
    """A tensor: its ranks (axis order), whether it is an input, iterative rank, pattern."""

    name: str
    ranks: tuple[str, ...]
    is_input: bool
    iterative: str | None = None
    #: For a sparsity-pattern input (boolean; absent where False): how `run` generates it.
    pattern: str | None = None
    word_bytes: int = 2


@dataclass(frozen=True)
class Step:
    """One step of the execution plan: Einsums run at once, or stepped along a rank."""

    einsums: tuple[Einsum, ...]
    rank: str | None = None  # the iterative rank a loop steps, None for a plain Einsum


@dataclass
class Cascade:
    """A validated cascade: Einsums in source order, tensors, ranks, DAG and execution plan."""

    name: str
    source: str
    einsums: tuple[Einsum, ...]
    tensors: dict[str, Tensor]
    ranks: dict[str, Rank]
    graph: nx.DiGraph
    plan: tuple[Step, ...]
    description: str = ""
    #: derived answers (resolved shapes, splits) by their question: a cascade does not change
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def with_word_bytes(self, widths: dict[str, int]) -> "Cascade":
        """This cascade with some tensors at other element sizes (bytes; FP32 accumulators, a
        1-byte mask), made once per widths so caches keyed by the cascade are reused."""
        key = ("word_bytes", tuple(sorted(widths.items())))
        if key not in self._memo:
            c = copy.copy(self)
            c.tensors = {t: replace(v, word_bytes=widths[t]) if t in widths else v
                         for t, v in self.tensors.items()}
            c._memo = {}
            self._memo[key] = c
        return self._memo[key]

    # -- structure
    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(t for t, v in self.tensors.items() if v.is_input)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Tensors computed and read by no Einsum."""
        return tuple(t for t, v in self.tensors.items()
                     if not v.is_input and self.graph.out_degree(t) == 0)

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(t for t, v in self.tensors.items() if v.pattern)

    def split(self, rank: str) -> tuple[str, str] | None:
        """(outer, inner) parts of a split rank, or None."""
        key = ("split", rank)
        if key not in self._memo:
            self._memo[key] = self._split(rank)
        return self._memo[key]

    def _split(self, rank: str) -> tuple[str, str] | None:
        parts = [r for r in self.ranks.values() if r.parent == rank]
        if not parts:
            return None
        outer = next(r.name for r in parts if r.part == "outer")
        inner = next(r.name for r in parts if r.part == "inner")
        return outer, inner

    def ancestors(self, rank: str) -> tuple[str, ...]:
        """Ranks that contain `rank` (m for m0), nearest first."""
        out = []
        r = self.ranks[rank].parent
        while r is not None:
            out.append(r)
            r = self.ranks[r].parent
        return tuple(out)

    def root(self, rank: str) -> str:
        """The unsplit rank a rank belongs to."""
        anc = self.ancestors(rank)
        return anc[-1] if anc else rank

    def producers(self, tensor: str) -> tuple[Einsum, ...]:
        return tuple(e for e in self.einsums if e.output == tensor)

    def readers(self, tensor: str) -> tuple[Einsum, ...]:
        return tuple(e for e in self.einsums if tensor in e.inputs)

    # -- shapes
    def extent(self, tensor: str, axis: int) -> sympy.Expr:
        """Symbolic extent of a tensor axis (an iterative axis holds shape+1 iterates)."""
        t = self.tensors[tensor]
        r = t.ranks[axis]
        sym = shape_symbol(r)
        return sym + 1 if t.iterative == r else sym

    def size(self, tensor: str) -> sympy.Expr:
        """Symbolic number of elements of a tensor."""
        t = self.tensors[tensor]
        return sympy.Mul(*(self.extent(tensor, a) for a in range(len(t.ranks))))

    def resolve_shapes(self, given: dict[str, int]) -> dict[str, int]:
        """Concrete shape of every rank from user-given ones; outer split parts are derived.

        The outer part of a split is ceil(parent / inner), so a ragged last chunk is allowed.
        """
        try:
            key = ("shapes", tuple(sorted(given.items())))
            hit = self._memo.get(key)
        except TypeError:  # unhashable values: checked (and refused) below
            key, hit = None, None
        if hit is None:
            hit = self._resolve_shapes(given)
            if key is not None:
                self._memo[key] = hit
        return dict(hit)

    def _resolve_shapes(self, given: dict[str, int]) -> dict[str, int]:
        shapes: dict[str, int] = {}
        for name, value in given.items():
            if name not in self.ranks:
                raise CascadeError(
                    f"shape given for rank '{name}', which cascade '{self.name}' does not have "
                    f"(its ranks: {', '.join(sorted(self.ranks))})")
            if not isinstance(value, int) or value <= 0:
                raise CascadeError(f"shape of rank '{name}' must be a positive integer, got {value!r}")
            shapes[name] = value
        for name in _parents_first(self):
            split = self.split(name)
            if split is None:
                continue
            outer, inner = split
            if name not in shapes and outer in shapes and inner in shapes:
                shapes[name] = shapes[outer] * shapes[inner]
            if name in shapes and inner in shapes:
                derived = -(-shapes[name] // shapes[inner])
                if outer in shapes and shapes[outer] != derived:
                    raise CascadeError(
                        f"shape of rank '{outer}' is {shapes[outer]} but {name}={shapes[name]} split "
                        f"by {inner}={shapes[inner]} gives ceil({shapes[name]}/{shapes[inner]}) = {derived}")
                shapes[outer] = derived
        derivable = {self.split(r)[0] for r in self.ranks if self.split(r)}  # type: ignore[index]
        missing = [r for r in self.ranks if r not in shapes and r not in derivable]
        missing = missing or [r for r in self.ranks if r not in shapes]
        if missing:
            raise CascadeError(
                f"cascade '{self.name}' needs the shape of rank(s) {', '.join(sorted(missing))} "
                f"(give e.g. --shape {','.join(f'{r}=64' for r in sorted(missing))})")
        return shapes


def _parents_first(c: Cascade) -> list[str]:
    """Rank names ordered so that a parent comes before its parts."""
    return sorted(c.ranks, key=lambda r: len(c.ancestors(r)))
