"""Shared test helpers."""

from __future__ import annotations

import pytest

from einsum_cascades import CascadeError, parse


@pytest.fixture
def parse_error():
    """Parse text and return the CascadeError it raises (failing if it parses)."""

    def check(text: str) -> CascadeError:
        with pytest.raises(CascadeError) as info:
            parse(text, "t.cascade")
        return info.value

    return check
