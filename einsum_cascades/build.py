"""Checks parsed statements and builds a Cascade: tensors, ranks, dependency DAG and plan.

Every error names the file, line and column of the statement at fault.
"""

from __future__ import annotations

import networkx as nx

from .errors import CascadeError, Pos
from .ir import (Cascade, ConstIdx, Einsum, FinalIdx, RankIdx, Rank, Ref, SplitIdx, Step, Tensor,
                 refs, shape_name)
from .parser import EinsumStmt, Source, parse_source


def parse(text: str, source: str = "<string>", name: str | None = None) -> Cascade:
    """Parse and check cascade text; raises CascadeError naming file, line and column."""
    return build(parse_source(text, source, name))


def build(src: Source) -> Cascade:
    """Turn parsed statements into a checked Cascade."""
    einsums = [_einsum(s) for s in src.einsums]
    _check_definitions(einsums)
    axes = _tensor_axes(src, einsums)
    tensors = _tensors(src, einsums, axes)
    ranks = _ranks(einsums, tensors)
    _check_reads(einsums, tensors)
    graph = _graph(einsums, tensors)
    plan = _plan(einsums, tensors, graph)
    return Cascade(src.name, src.source, tuple(einsums), tensors, ranks, graph, plan, src.description)


# ----------------------------------------------------------------------------- single Einsums
def _einsum(s: EinsumStmt) -> Einsum:
    out = s.output
    consts = [i for i in out.indices if isinstance(i, ConstIdx)]
    steps = [i for i in out.indices if isinstance(i, RankIdx) and i.offset]
    for i in out.indices:
        if isinstance(i, (SplitIdx, FinalIdx)):
            raise CascadeError(f"the output {out} can only be indexed by ranks, r+1 or an initial "
                               f"position 0; '{i}' belongs on the right-hand side", s.pos)
    if len(consts) + len(steps) > 1:
        raise CascadeError(f"the output {out} may step or initialise one iterative rank, not "
                           f"{len(consts) + len(steps)}", s.pos)
    if consts and consts[0].value != 0:
        raise CascadeError(f"an initial value is written at position 0, not {consts[0].value}", s.pos)
    for r in [out, *refs(s.expr)]:
        seen: set[str] = set()
        for rank in r.ranks:
            if rank in seen:
                raise CascadeError(f"rank '{rank}' appears twice in {r}", r.pos)
            seen.add(rank)
    kind = "init" if consts else "update" if steps else "compute"
    e = Einsum(out.tensor, out.indices, s.expr, s.reduce, kind, s.pos, s.text)  # type: ignore[arg-type]
    if kind == "init" and e.reduced:
        raise CascadeError(f"an initial value cannot reduce ranks ({', '.join(e.reduced)})", s.pos)
    if s.reduce_ranks is not None and set(s.reduce_ranks) != set(e.reduced):
        raise CascadeError(f"{s.reduce}({', '.join(s.reduce_ranks)}) names ranks other than those "
                           f"absent from the output ({', '.join(e.reduced) or 'none'})", s.pos)
    return e


def _check_definitions(einsums: list[Einsum]) -> None:
    """One plain definition per tensor, or one initial value plus one update."""
    seen: dict[str, dict[str, Einsum]] = {}
    for e in einsums:
        kinds = seen.setdefault(e.output, {})
        clash = kinds.get(e.kind) or kinds.get("compute") or (
            next(iter(kinds.values())) if e.kind == "compute" and kinds else None)
        if clash is not None:
            raise CascadeError(f"output '{e.output}' defined twice (first at line {clash.pos.line})",
                               e.pos)
        kinds[e.kind] = e
    for name, kinds in seen.items():
        if "init" in kinds and "update" not in kinds:
            raise CascadeError(f"'{name}' has an initial value but no update {name}[r+1,...] = ...",
                               kinds["init"].pos)
        if "update" in kinds and "init" not in kinds:
            e = kinds["update"]
            raise CascadeError(f"iterative '{name}' has no initial value "
                               f"(add {name}[0,...] = ... for rank {e.iterative_rank})", e.pos)
        if "init" in kinds:
            ipos = [k for k, i in enumerate(kinds["init"].out_indices) if isinstance(i, ConstIdx)]
            upos = [k for k, i in enumerate(kinds["update"].out_indices)
                    if isinstance(i, RankIdx) and i.offset]
            if ipos != upos:
                raise CascadeError(f"the initial value of '{name}' is at a different axis than its "
                                   f"update steps", kinds["init"].pos)


# ----------------------------------------------------------------------------- tensors and ranks
def _axis_name(idx) -> str | None:
    if isinstance(idx, RankIdx):
        return idx.rank
    if isinstance(idx, SplitIdx):
        return idx.parent
    if isinstance(idx, FinalIdx):
        return idx.rank
    return None


def _tensor_axes(src: Source, einsums: list[Einsum]) -> dict[str, list[str | None]]:
    """Axis rank names of every tensor, checked for agreement across all its uses."""
    axes: dict[str, list[str | None]] = {}
    where: dict[str, list[Pos | None]] = {}
    all_refs: list[Ref] = [d.ref for d in src.decls]
    for e in einsums:
        all_refs.append(Ref(e.output, e.out_indices, e.pos))
        all_refs.extend(refs(e.expr))
    for r in all_refs:
        names = [_axis_name(i) for i in r.indices]
        if r.tensor not in axes:
            axes[r.tensor] = names
            where[r.tensor] = [r.pos if n else None for n in names]
            continue
        known = axes[r.tensor]
        if len(known) != len(names):
            first = next((p for p in where[r.tensor] if p), None)
            at = f" (line {first.line})" if first else ""
            raise CascadeError(f"'{r.tensor}' has {len(known)} rank(s){at} but is used here with "
                               f"{len(names)}", r.pos)
        for k, (old, new) in enumerate(zip(known, names)):
            if old is None and new is not None:
                known[k], where[r.tensor][k] = new, r.pos
            elif old is not None and new is not None and old != new:
                raise CascadeError(
                    f"rank '{new}' used with two different shapes: axis {k} of '{r.tensor}' is rank "
                    f"'{old}' (shape {shape_name(old)}, line {where[r.tensor][k].line}), here rank "
                    f"'{new}' (shape {shape_name(new)})", r.pos)
    return axes


def _tensors(src: Source, einsums: list[Einsum],
             axes: dict[str, list[str | None]]) -> dict[str, Tensor]:
    defined = {e.output: e for e in einsums}
    iterative = {e.output: e.iterative_rank for e in einsums if e.kind == "update"}
    declared: dict = {}
    for d in src.decls:
        if d.ref.tensor in declared:
            raise CascadeError(f"input '{d.ref.tensor}' declared twice (first at line "
                               f"{declared[d.ref.tensor].pos.line})", d.ref.pos)
        declared[d.ref.tensor] = d
    first_read: dict[str, Ref] = {}
    for e in einsums:
        for r in refs(e.expr):
            first_read.setdefault(r.tensor, r)
    for name, d in declared.items():
        if name in defined:
            raise CascadeError(f"'{name}' is declared as an input but defined at line "
                               f"{defined[name].pos.line}", d.pos)
        if name not in first_read:
            raise CascadeError(f"declared input '{name}' is never used", d.pos)
    tensors: dict[str, Tensor] = {}
    for name, names in axes.items():
        is_input = name not in defined
        if is_input and declared == {} and name in first_read:
            pass  # no declarations: undefined tensors are the inputs
        elif is_input and name not in declared:
            r = first_read[name]
            raise CascadeError(f"unknown tensor '{name}': not defined by any Einsum and not declared "
                               f"by @input", r.pos)
        for k, n in enumerate(names):
            if n is None:
                r = first_read.get(name)
                raise CascadeError(f"cannot tell the rank of axis {k} of '{name}': index it by a rank "
                                   f"somewhere", r.pos if r else defined[name].pos)
        d = declared.get(name)
        tensors[name] = Tensor(name, tuple(names), is_input, iterative.get(name),  # type: ignore[arg-type]
                               d.pattern if d else None)
    # order: inputs first, then as defined
    order = [t for t in tensors if tensors[t].is_input] + list(dict.fromkeys(e.output for e in einsums))
    return {t: tensors[t] for t in order}


def _ranks(einsums: list[Einsum], tensors: dict[str, Tensor]) -> dict[str, Rank]:
    parents: dict[str, tuple[str, str, Pos]] = {}  # parent -> (outer, inner, where)
    names: dict[str, None] = {}
    for t in tensors.values():
        names.update(dict.fromkeys(t.ranks))
    for e in einsums:
        names.update(dict.fromkeys(e.space))
        for r in refs(e.expr):
            for i in r.indices:
                if isinstance(i, SplitIdx):
                    old = parents.setdefault(i.parent, (i.outer, i.inner, r.pos))
                    if old[:2] != (i.outer, i.inner):
                        raise CascadeError(f"rank '{i.parent}' is split as {i} here but as "
                                           f"{old[0]}*{shape_name(old[1])}+{old[1]} at line "
                                           f"{old[2].line}", r.pos)
                    names.setdefault(i.parent)
    part_of = {o: (p, "outer") for p, (o, _, _) in parents.items()}
    part_of.update({i: (p, "inner") for p, (_, i, _) in parents.items()})
    iterative = {t.iterative for t in tensors.values() if t.iterative}
    out = {}
    for n in names:
        parent, part = part_of.get(n, (None, None))
        out[n] = Rank(n, parent, part, n in iterative)  # type: ignore[arg-type]
    return out


def _check_reads(einsums: list[Einsum], tensors: dict[str, Tensor]) -> None:
    """Iterate, initial and final positions only on iterative axes; splits not on them."""
    for e in einsums:
        for r in refs(e.expr):
            t = tensors[r.tensor]
            for k, i in enumerate(r.indices):
                axis = t.ranks[k]
                is_it = t.iterative == axis
                if isinstance(i, RankIdx) and i.offset and not is_it:
                    raise CascadeError(f"{r} reads the next iterate, but '{t.name}' is not iterative "
                                       f"over '{axis}'", r.pos)
                if isinstance(i, (FinalIdx, ConstIdx)) and not is_it:
                    raise CascadeError(f"{r} reads {'the final value' if isinstance(i, FinalIdx) else 'a fixed position'} "
                                       f"of rank '{axis}', but '{t.name}' is not iterative over it", r.pos)
                if isinstance(i, SplitIdx) and is_it:
                    raise CascadeError(f"{r} splits the iterative rank '{axis}'", r.pos)


# ----------------------------------------------------------------------------- DAG and plan
def _carried(r: Ref, t: Tensor) -> bool:
    """A read of the previous iterate (RD[m1,p] of RD[m1+1,p] = ...): carried across steps."""
    return any(isinstance(i, RankIdx) and i.offset == 0 and t.ranks[k] == t.iterative
               for k, i in enumerate(r.indices))


def _graph(einsums: list[Einsum], tensors: dict[str, Tensor]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(tensors)
    for e in einsums:
        for r in refs(e.expr):
            carried = _carried(r, tensors[r.tensor])
            if g.has_edge(r.tensor, e.output):
                g.edges[r.tensor, e.output]["carried"] &= carried
            else:
                g.add_edge(r.tensor, e.output, carried=carried, line=e.pos.line)
    step = nx.DiGraph([(u, v) for u, v, c in g.edges(data="carried") if not c])
    try:
        cycle = nx.find_cycle(step)
    except nx.NetworkXNoCycle:
        return g
    names = [u for u, _ in cycle] + [cycle[0][0]]
    first = min((e for e in einsums if e.output in names and e.kind != "init"),
                key=lambda e: e.pos.line)
    raise CascadeError(f"dependency cycle: {' -> '.join(names)} (only reads of the previous iterate, "
                       f"like RM[m1,p] in RM[m1+1,p] = ..., may close a loop)", first.pos)


def _plan(einsums: list[Einsum], tensors: dict[str, Tensor], g: nx.DiGraph) -> tuple[Step, ...]:
    """Execution order: plain Einsums, and loops stepping an iterative rank for each cycle."""
    order = {e.output: k for k, e in enumerate(einsums)}
    cond = nx.condensation(g)
    comp_key = {c: min(order.get(t, -1) for t in cond.nodes[c]["members"]) for c in cond.nodes}
    steps: list[Step] = []
    for c in nx.lexicographical_topological_sort(cond, key=lambda c: comp_key[c]):
        names = cond.nodes[c]["members"]
        produced = [e for e in einsums if e.output in names]
        if not produced:
            continue
        looped = len(names) > 1 or any(g.has_edge(t, t) for t in names)
        if not looped:
            steps.extend(Step((e,)) for e in produced)
            continue
        inits = [e for e in produced if e.kind == "init"]
        body = [e for e in produced if e.kind != "init"]
        ranks = {tensors[t].iterative for t in names if tensors[t].iterative}
        if len(ranks) != 1:
            raise CascadeError(f"the loop {' / '.join(sorted(names))} must step exactly one iterative "
                               f"rank, found {len(ranks)}", body[0].pos)
        rank = ranks.pop()
        for e in body:
            if rank not in e.out_ranks:
                raise CascadeError(f"'{e.output}' is in the loop over '{rank}' but its output is not "
                                   f"indexed by '{rank}'", e.pos)
        sub = nx.DiGraph()
        sub.add_nodes_from(e.output for e in body)
        sub.add_edges_from((u, v) for u, v, car in g.edges(data="carried")
                           if not car and u in sub and v in sub)
        ordered = list(nx.lexicographical_topological_sort(sub, key=lambda t: order[t]))
        by_out = {e.output: e for e in body}
        steps.extend(Step((e,)) for e in inits)
        steps.append(Step(tuple(by_out[t] for t in ordered), rank))
    return tuple(steps)
