"""Mappings whose Einsums share one loop nest (a fully fused cascade, as in FuseMax).

Every Einsum takes, from a shared nest, the loops on ranks of its own iteration space. A search
varies the shared factors: `shared_kernel` lays a Template's factors out as one column per loop
of the shared nest, so `Template.compile(F[n, slots], kernel)` scores candidates directly.
"""

from __future__ import annotations

import numpy as np

from einsum_cascades import Cascade

from .compile import Kernel, Template
from .mapping import EinsumMapping, FusionGroup, Level, Mapping, Stage, working_einsums


def shared_nest_mapping(c: Cascade, shapes: dict[str, int], binding: dict[str, str],
                        nest: tuple[Level, ...], keep: str | dict[str, str] | None = None,
                        stages: tuple[Stage, ...] = (), instances: int = 1) -> Mapping:
    """Bind each working Einsum (key -> unit) under the shared `nest`. `keep` holds every
    intermediate at one memory level (a name), or says per intermediate where it stays (a dict
    whose "*" entry, if any, covers the rest)."""
    ems = []
    for e in working_einsums(c):
        space = set(e.space)
        levels = tuple(Level(lv.memory, tuple(lp for lp in lv.loops if lp.rank in space))
                       for lv in nest)
        ems.append(EinsumMapping(e.key, binding[e.key], levels))
    inter = [t for t in c.tensors if not c.tensors[t].is_input and t not in c.outputs]
    rules = {"*": keep} if isinstance(keep, str) else dict(keep or {})
    kept = {t: rules.get(t, rules.get("*")) for t in inter}
    kept = {t: where for t, where in kept.items() if where}
    fusion = (FusionGroup(tuple(m.einsum for m in ems), kept),) if kept else ()
    return Mapping(c, shapes, tuple(ems), fusion, stages, instances)


def shared_kernel(t: Template, m: Mapping, nest: tuple[Level, ...], arch) -> Kernel:
    """A kernel reading the factor of each Einsum loop from the column of its shared loop;
    a completion loop the template added keeps the factor it has in `m`."""
    columns = np.full((len(t.keys), t.width), -1, np.int64)
    work = {e.key: e for e in working_einsums(m.cascade)}
    for e, em in enumerate(m.einsums):
        space = set(work[em.einsum].space)
        j, slot = 0, 0
        for lv in nest:
            for lp in lv.loops:
                if lp.rank in space:
                    columns[e, j] = slot
                    j += 1
                slot += 1
    return t.bind(columns, t.factors_of(m, arch))
