"""einsum_cascades: attention as cascades of extended Einsums (what is computed).

    c = load("one_pass")                       # or parse(text) / load("my.cascade")
    analyse(c).max_passes                      # 1
    run(c, random_inputs(c, shapes), shapes)   # numpy reference interpreter with op counts
    symbolic_costs(c).op_counts                # sympy formulas of the rank shapes
"""

from . import library
from .build import parse
from .costs import Costs, symbolic_costs
from .errors import CascadeError, Pos
from .interpreter import RunResult, run
from .ir import Cascade, Einsum, Rank, Tensor
from .loader import load
from .passes import PassReport, analyse
from .reference import attention_reference, check_attention, expand_to_roots, random_inputs

__all__ = [
    "Cascade", "CascadeError", "Costs", "Einsum", "PassReport", "Pos", "Rank", "RunResult",
    "Tensor", "analyse", "attention_reference", "check_attention", "expand_to_roots", "library",
    "load", "parse", "random_inputs", "run", "symbolic_costs",
]
