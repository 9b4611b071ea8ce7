"""Workloads: the models of the FuseMax evaluation and sequence lengths written as people do.

Sequence lengths use binary multiples as the papers do (1K = 1024, 1M = 2^20); ranges are
`START..STOP*FACTOR` (geometric) or comma lists: `1K..1M*4` is 1K, 4K, 16K, 64K, 256K, 1M.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    """Self-attention of one encoder layer: batch, heads, head dim (E = F), hidden, FFN size."""

    name: str
    batch: int
    heads: int
    head_dim: int
    hidden: int
    ffn: int
    source: str = ""


_FUSEMAX = "FuseMax (MICRO 2024) evaluation, shared/reference/fusemax/README.md; batch 64"
MODELS = {
    "bert": Workload("BERT", 64, 12, 64, 768, 3072, "BERT-base; " + _FUSEMAX),
    "trxl": Workload("TrXL", 64, 16, 64, 1024, 4096, "Transformer-XL wt103; " + _FUSEMAX),
    "t5": Workload("T5", 64, 8, 64, 512, 2048, "T5-small encoder; " + _FUSEMAX),
    "xlm": Workload("XLM", 64, 16, 128, 2048, 8192, "XLM; " + _FUSEMAX),
}

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_COUNT = re.compile(r"^\s*(\d+)\s*([KMG]?)\s*$", re.IGNORECASE)


def model(name: str) -> Workload:
    """A model by name (case-insensitive); the error lists the known ones."""
    from .llm import LLMS  # the decoder LLMs (studies/llm.py), as one layer's attention

    key = name.strip().lower()
    if key in LLMS:
        m = LLMS[key]
        return Workload(m.name, 1, m.heads, m.head_dim, m.hidden, m.ffn, m.source)
    if key not in MODELS:
        raise ValueError(f"unknown model '{name}' (models: {', '.join(list(MODELS) + list(LLMS))}"
                         f"; or give --batch, --heads and --head-dim)")
    return MODELS[key]


#: the largest count taken (2^40 = 1024G, about a trillion tokens): beyond it no attention is
#: real, and the symbolic and floating-point work would only run long to print nonsense
MAX_COUNT = 1 << 40


def parse_count(text: str) -> int:
    """`64K` -> 65536, `1M` -> 1048576, `512` -> 512."""
    m = _COUNT.match(str(text))
    if not m or int(m[1]) <= 0:
        raise ValueError(f"expected a positive count like 64K or 1M, got '{text}'")
    n = int(m[1]) * _SUFFIX[m[2].upper()]
    if n > MAX_COUNT:
        raise ValueError(f"'{text}' is more than the largest count taken, 2^40 (1024G)")
    return n


def option_count(option: str, text: str | None) -> int | None:
    """The count an option was given (None when absent); a bad one is an error naming OPTION."""
    try:
        return None if text is None else parse_count(text)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None


def parse_counts(text: str) -> list[int]:
    """`1K..1M*4` (geometric range, STOP included when reached), `1K,4K`, or one count."""
    if ".." in text:
        start, _, rest = text.partition("..")
        stop, star, factor = rest.partition("*")
        if not star:
            raise ValueError(f"a range needs a factor: START..STOP*FACTOR, e.g. 1K..1M*4; got '{text}'")
        lo, hi, f = parse_count(start), parse_count(stop), parse_count(factor)
        if f < 2 or hi < lo:
            raise ValueError(f"range '{text}' must grow: STOP >= START and FACTOR >= 2")
        out = [lo]
        while out[-1] * f <= hi:
            out.append(out[-1] * f)
        return out
    return [parse_count(t) for t in text.split(",")]


def label(n: int) -> str:
    """1048576 -> `1M`, 65536 -> `64K`, 1000 -> `1000`."""
    for suffix in ("G", "M", "K"):
        if n % _SUFFIX[suffix] == 0:
            return f"{n // _SUFFIX[suffix]}{suffix}"
    return str(n)
