"""The reference pages' examples parse, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archsim.spec import parse_spec
from einsum_cascades import CascadeError, analyse, parse

DOCS = Path(__file__).resolve().parent.parent / "docs"


def blocks(page: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (DOCS / page).read_text(), re.S)


@pytest.mark.parametrize("text", blocks("cascade-notation.md", "cascade"))
def test_cascade_examples_parse(text):
    assert analyse(parse(text, "docs")).max_passes >= 1


def test_cascade_error_examples_are_what_the_parser_says():
    cases = {
        "unknown tensor 'QKK'": "@input Q[e,p], K[e,m]\nQK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QKK[m,p])",
        "rank 'f' used with two different shapes": "QK[m,p] = Q[e,p] * K[e,m]\nX[f,m] = K[f,m]",
        "unknown operator 'log'": "Y[m] = log(A[m])",
        "dependency cycle: A -> B -> A": "A[m] = B[m] * C[m]\nB[m] = A[m] + C[m]",
        "output 'A' defined twice (first at line 1)": "A[m] = B[m]\nA[m] = C[m]",
    }
    page = (DOCS / "cascade-notation.md").read_text()
    for words, text in cases.items():
        with pytest.raises(CascadeError) as info:
            parse(text, "bad.cascade")
        assert str(info.value) in page, str(info.value)
        assert words in str(info.value)


@pytest.mark.parametrize("text", blocks("architecture-spec.md", "yaml"))
def test_architecture_examples_load(text):
    arch = parse_spec(text, "docs.yaml")
    assert arch.units()
