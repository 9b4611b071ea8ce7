"""The `.cascade` text notation: one extended Einsum per line, `#` comments, `@` declarations.

    QK[m,p] = Q[e,p] * K[e,m]          # ranks absent from the output are sum-reduced
    GM[p] = max(QK[m,p])                # max-reduce (also written `max(m) QK[m,p]`)
    BK[e,m1,m0] = K[e, m1*M0+m0]        # rank split
    RM[0,p] = -inf                      # initial value of an iterative rank
    RM[m1+1,p] = max(RM[m1,p], LM[m1,p])
    AV[f,p] = RNV[f,M1,p] / RD[M1,p]    # final value
    @input Q[e,p], K[e,m], V[f,m]       # optional: makes every other undefined tensor an error
    @pattern CM[m,p] causal             # a boolean sparsity-pattern input (causal|random|full)

This module turns text into statements; build.py checks them and makes the Cascade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import CascadeError, Pos
from .ir import (BINARY_OPS, Binary, ConstIdx, Const, Expr, FinalIdx, Index, RankIdx, Ref,
                 SplitIdx, Unary)

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()\[\],=@])|(?P<bad>\S))")
_FUNCTIONS = ("max", "exp", "sum")
_KNOWN = "operators: + - * / max(a, b) exp(x); reductions: sum over absent ranks, max(x)"
PATTERN_KINDS = ("causal", "random", "full")


@dataclass(frozen=True)
class Token:
    kind: Literal["num", "name", "op", "end"]
    text: str
    pos: Pos


@dataclass(frozen=True)
class EinsumStmt:
    """An Einsum line as written: output ref, right-hand side, reduce operator."""

    output: Ref
    expr: Expr
    reduce: Literal["sum", "max"]
    reduce_ranks: tuple[str, ...] | None  # ranks named in `max(m) X[...]`, else None
    pos: Pos
    text: str


@dataclass(frozen=True)
class InputDecl:
    """`@input T[ranks]` or `@pattern T[ranks] kind` (kind None for plain inputs)."""

    ref: Ref
    pattern: str | None
    pos: Pos


@dataclass(frozen=True)
class Source:
    """A parsed file: its statements in order and the leading comment as description."""

    name: str
    source: str
    einsums: tuple[EinsumStmt, ...]
    decls: tuple[InputDecl, ...]
    description: str


def tokenize(line: str, source: str, lineno: int) -> list[Token]:
    """Tokens of one line (comment already removed); a stray character is an error."""
    out: list[Token] = []
    i = 0
    while i < len(line):
        m = _TOKEN.match(line, i)
        if m is None:  # only trailing whitespace is left
            break
        col = m.start(m.lastgroup) + 1 if m.lastgroup else i + 1
        pos = Pos(source, lineno, col)
        if m.lastgroup == "bad":
            raise CascadeError(f"unknown operator or character '{m.group('bad')}' ({_KNOWN})", pos)
        if m.lastgroup is None:
            break
        out.append(Token(m.lastgroup, m.group(m.lastgroup), pos))  # type: ignore[arg-type]
        i = m.end()
    out.append(Token("end", "", Pos(source, lineno, len(line.rstrip()) + 1)))
    return out


class _LineParser:
    """Recursive-descent parser over the tokens of one line."""

    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    # -- token helpers
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.peek()
        self.i += 1
        return t

    def accept(self, text: str) -> bool:
        if self.peek().kind == "op" and self.peek().text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str) -> Token:
        t = self.peek()
        if t.kind == "op" and t.text == text:
            return self.next()
        raise CascadeError(f"expected '{text}' {what}, found {_describe(t)}", t.pos)

    def at_end(self) -> bool:
        return self.peek().kind == "end"

    # -- grammar
    def ref(self) -> Ref:
        t = self.next()
        if t.kind != "name":
            raise CascadeError(f"expected a tensor name, found {_describe(t)}", t.pos)
        self.expect("[", f"after tensor name '{t.text}' (write {t.text}[] for a scalar)")
        indices: list[Index] = []
        if not self.accept("]"):
            while True:
                indices.append(self.index())
                if self.accept("]"):
                    break
                self.expect(",", f"or ']' in the indices of {t.text}")
        return Ref(t.text, tuple(indices), t.pos)

    def index(self) -> Index:
        t = self.next()
        if t.kind == "num":
            if not t.text.isdigit():
                raise CascadeError(f"a fixed index must be a non-negative integer, not {t.text}", t.pos)
            return ConstIdx(int(t.text))
        if t.kind != "name":
            raise CascadeError(f"expected a rank (e.g. m), a split (m1*M0+m0), a fixed index (0) or a "
                               f"final index (M1), found {_describe(t)}", t.pos)
        if t.text[0].isupper():
            return FinalIdx(t.text.lower())
        if self.accept("+"):
            n = self.next()
            if n.kind != "num" or n.text != "1":
                raise CascadeError(f"only '{t.text}+1' (the next iterate) is supported, found "
                                   f"'{t.text}+{n.text}'", n.pos)
            return RankIdx(t.text, 1)
        if self.accept("*"):
            shape = self.next()
            if shape.kind != "name" or not shape.text[0].isupper():
                raise CascadeError(f"expected the inner rank's shape (e.g. M0) after '{t.text}*', "
                                   f"found {_describe(shape)}", shape.pos)
            self.expect("+", f"in the split {t.text}*{shape.text}+...")
            inner = self.next()
            if inner.kind != "name" or not inner.text[0].islower():
                raise CascadeError(f"expected the inner rank after '{t.text}*{shape.text}+', found "
                                   f"{_describe(inner)}", inner.pos)
            if shape.text != inner.text.upper():
                raise CascadeError(f"rank '{inner.text}' used with two different shapes: its shape is "
                                   f"{inner.text.upper()}, not {shape.text}", shape.pos)
            parent = _stem(t.text)
            if parent != _stem(inner.text) or parent == t.text or parent == inner.text:
                raise CascadeError(f"cannot tell which rank '{t.text}*{shape.text}+{inner.text}' "
                                   f"splits: name the parts of rank r as r1 and r0", t.pos)
            return SplitIdx(t.text, inner.text, parent)
        return RankIdx(t.text)

    def expr(self) -> Expr:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.next().text
            node = Binary(op, node, self.term())  # type: ignore[arg-type]
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in "*/":
            op = self.next().text
            node = Binary(op, node, self.unary())  # type: ignore[arg-type]
        return node

    def unary(self) -> Expr:
        if self.accept("-"):
            arg = self.unary()
            if isinstance(arg, Const):
                return Const(-arg.value)
            return Unary("neg", arg)
        return self.primary()

    def primary(self) -> Expr:
        t = self.peek()
        if t.kind == "num":
            self.next()
            return Const(float(t.text))
        if self.accept("("):
            e = self.expr()
            self.expect(")", "to close '('")
            return e
        if t.kind == "name":
            nxt = self.peek(1)
            if nxt.kind == "op" and nxt.text == "[":
                return self.ref()
            if t.text == "inf":
                self.next()
                return Const(float("inf"))
            if nxt.kind == "op" and nxt.text == "(":
                return self.call()
            raise CascadeError(f"expected a tensor reference like {t.text}[...], a number or a "
                               f"function call, found name '{t.text}'", t.pos)
        raise CascadeError(f"expected an operand, found {_describe(t)}", t.pos)

    def call(self) -> Expr:
        name = self.next()
        if name.text not in _FUNCTIONS:
            raise CascadeError(f"unknown operator '{name.text}' ({_KNOWN})", name.pos)
        self.expect("(", f"after '{name.text}'")
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        self.expect(")", f"to close '{name.text}('")
        if name.text == "exp":
            if len(args) != 1:
                raise CascadeError(f"exp takes one argument, got {len(args)}", name.pos)
            return Unary("exp", args[0])
        if name.text == "max" and len(args) == 2:
            return Binary("max", args[0], args[1])
        if len(args) != 1:
            raise CascadeError(f"{name.text} takes one argument (a reduction) or, for max, two "
                               f"(element-wise), got {len(args)}", name.pos)
        raise CascadeError(f"{name.text}(...) with one argument is a reduction and must be the whole "
                           f"right-hand side", name.pos)

    def rhs(self) -> tuple[Expr, Literal["sum", "max"], tuple[str, ...] | None]:
        """Right-hand side: a reduction wrapper at the top, or a plain expression (sum)."""
        t, nxt = self.peek(), self.peek(1)
        if t.kind == "name" and t.text in ("max", "sum") and nxt.kind == "op" and nxt.text == "(":
            save = self.i
            self.i += 2
            # `max(m, p) X[...]`: a list of bare rank names, then the expression
            ranks: list[str] = []
            while self.peek().kind == "name" and self.peek(1).kind == "op" and \
                    self.peek(1).text in (",", ")") and self.peek().text[0].islower():
                ranks.append(self.next().text)
                if self.accept(")"):
                    return self.expr(), t.text, tuple(ranks)  # type: ignore[return-value]
                self.accept(",")
            self.i = save + 2
            inner = self.expr()
            if self.accept(")"):
                if not self.at_end():
                    raise CascadeError(f"{t.text}(...) with one argument is a reduction and must be "
                                       f"the whole right-hand side", t.pos)
                return inner, t.text, None  # type: ignore[return-value]
            self.i = save  # two arguments: an element-wise max
        return self.expr(), "sum", None


def _stem(name: str) -> str:
    return name.rstrip("0123456789")


def _describe(t: Token) -> str:
    return "end of line" if t.kind == "end" else f"'{t.text}'"


def parse_source(text: str, source: str = "<string>", name: str | None = None) -> Source:
    """Parse cascade text into statements (no semantic checks yet)."""
    einsums: list[EinsumStmt] = []
    decls: list[InputDecl] = []
    description: list[str] = []
    started = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code, _, comment = raw.partition("#")
        if not code.strip():
            if not started and comment.strip() and not einsums:
                description.append(comment.strip())
            continue
        started = True
        toks = tokenize(code, source, lineno)
        p = _LineParser(toks)
        if p.accept("@"):
            decls.extend(_directive(p))
            continue
        out = p.ref()
        p.expect("=", f"after the output {out.tensor}[...]")
        expr, reduce, ranks = p.rhs()
        if not p.at_end():
            raise CascadeError(f"expected an operator or end of line, found {_describe(p.peek())}",
                               p.peek().pos)
        einsums.append(EinsumStmt(out, expr, reduce, ranks, out.pos, code.strip()))
    if not einsums:
        raise CascadeError("no Einsums found (write one per line, e.g. Z[m] = A[m] * B[m])",
                           Pos(source, 1, 1))
    return Source(name or "cascade", source, tuple(einsums), tuple(decls), " ".join(description))


def _directive(p: _LineParser) -> list[InputDecl]:
    word = p.next()
    if word.kind != "name" or word.text not in ("input", "pattern"):
        raise CascadeError(f"unknown declaration '@{word.text}' (known: @input, @pattern)", word.pos)
    if word.text == "input":
        out = [InputDecl(p.ref(), None, word.pos)]
        while p.accept(","):
            out.append(InputDecl(p.ref(), None, word.pos))
        if not p.at_end():
            raise CascadeError(f"expected ',' or end of line, found {_describe(p.peek())}", p.peek().pos)
        return out
    ref = p.ref()
    kind = p.next()
    if kind.kind != "name" or kind.text not in PATTERN_KINDS:
        raise CascadeError(f"expected a pattern kind ({', '.join(PATTERN_KINDS)}) after {ref}, found "
                           f"{_describe(kind)}", kind.pos)
    text = kind.text
    if p.accept("("):
        d = p.next()
        if d.kind != "num" or not 0 < float(d.text) <= 1:
            raise CascadeError(f"pattern density must be a number in (0, 1], found {_describe(d)}", d.pos)
        p.expect(")", "after the density")
        text = f"{text}({float(d.text)})"
    if not p.at_end():
        raise CascadeError(f"expected end of line, found {_describe(p.peek())}", p.peek().pos)
    return [InputDecl(ref, text, word.pos)]


__all__ = ["parse_source", "Source", "EinsumStmt", "InputDecl", "tokenize", "PATTERN_KINDS",
           "BINARY_OPS"]
