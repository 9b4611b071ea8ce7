"""Errors raised for malformed cascades and bad run requests, each naming where it happened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """A place in a cascade source: file name, 1-based line and column."""

    source: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}"


class CascadeError(Exception):
    """A problem with a cascade or a request about one; str() is a one-line message."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        self.message = message
        self.pos = pos
        super().__init__(f"{pos}: {message}" if pos else message)
