"""The library of attention cascades, each written in the `.cascade` notation beside this file."""

from __future__ import annotations

from pathlib import Path

LIBRARY_DIR = Path(__file__).parent


def names() -> list[str]:
    """Names of the library cascades, sorted."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.cascade"))


def path(name: str) -> Path:
    """The file of library cascade `name`."""
    return LIBRARY_DIR / f"{name}.cascade"
