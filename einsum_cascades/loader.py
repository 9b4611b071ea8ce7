"""Load a cascade by library name or from a `.cascade` file."""

from __future__ import annotations

from pathlib import Path

from . import library
from .build import parse
from .errors import CascadeError
from .ir import Cascade


def load(name_or_path: str | Path) -> Cascade:
    """A library cascade by name (`one_pass`) or a cascade file by path."""
    text = str(name_or_path)
    if text in library.names():
        p = library.path(text)
        return parse(p.read_text(), f"{text}.cascade", text)
    p = Path(text)
    if p.is_file():
        try:
            content = p.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CascadeError(f"cannot read cascade file {p}: {exc}") from None
        return parse(content, str(p), p.stem)
    raise CascadeError(f"no library cascade or file named '{text}' "
                       f"(library: {', '.join(library.names())})")
