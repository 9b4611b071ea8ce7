"""Load a cascade by library name or from a `.cascade` file."""

from __future__ import annotations

from pathlib import Path

from . import library
from .build import parse
from .errors import CascadeError
from .ir import Cascade


#: parsed cascades by (source, name, text): a cascade is immutable, and mappers and sweeps
#: load the same library cascade for every mapping they build (parsing is the slow part, and
#: one object per cascade lets the op-count cache of mappers.ops hit)
_PARSED: dict[tuple[str, str, str], Cascade] = {}


def _parse(text: str, source: str, name: str) -> Cascade:
    key = (source, name, text)
    if key not in _PARSED:
        if len(_PARSED) >= 64:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = parse(text, source, name)
    return _PARSED[key]


def load(name_or_path: str | Path) -> Cascade:
    """A library cascade by name (`one_pass`) or a cascade file by path."""
    text = str(name_or_path)
    if text in library.names():
        p = library.path(text)
        return _parse(p.read_text(), f"{text}.cascade", text)
    p = Path(text)
    if p.is_file():
        try:
            content = p.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CascadeError(f"cannot read cascade file {p}: {exc}") from None
        return _parse(content, str(p), p.stem)
    raise CascadeError(f"no library cascade or file named '{text}' "
                       f"(library: {', '.join(library.names())})")
