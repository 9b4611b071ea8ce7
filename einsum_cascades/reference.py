"""Random inputs for a cascade and the softmax-attention reference it must equal.

The reference recognises attention by its inputs Q, K, V: the ranks Q and K share (except
those V shares too) are contracted, the ranks K and V share are the keys, the rest of Q are
query ranks, the rest of V value ranks, and ranks of all three are batch ranks (e.g. the KV
group of grouped-query attention). Sparsity-pattern inputs mask the scores at the positions
they cover, after their split ranks are expanded back to whole ranks.
"""

from __future__ import annotations

import numpy as np

from .errors import CascadeError
from .interpreter import RunResult, run, tensor_shape
from .ir import Cascade


def random_inputs(cascade: Cascade, shapes: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal values for data inputs; patterns drawn as each declares."""
    shapes = cascade.resolve_shapes(shapes)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name in cascade.inputs:
        shape = tensor_shape(cascade, name, shapes)
        kind = cascade.tensors[name].pattern
        out[name] = rng.standard_normal(shape) if kind is None else _pattern(kind, shape, rng, name)
    return out


def _pattern(kind: str, shape: tuple[int, ...], rng: np.random.Generator, name: str) -> np.ndarray:
    """A boolean pattern whose first axis is the key rank: causal, random(d) or full.

    Random patterns keep key position 0 so that every query attends to at least one key.
    """
    if kind == "full":
        return np.ones(shape, bool)
    if kind == "causal":
        if len(shape) != 2:
            raise CascadeError(f"a causal pattern has two ranks (key, query); '{name}' has {len(shape)}")
        k = np.arange(shape[0])[:, None]
        q = np.arange(shape[1])[None, :]
        return k <= q
    density = float(kind[kind.index("(") + 1:-1]) if "(" in kind else 0.5
    pat = rng.random(shape) < density
    pat[0] = True
    return pat


def expand_to_roots(cascade: Cascade, data: np.ndarray, ranks: tuple[str, ...],
                    shapes: dict[str, int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Re-index an array over split ranks by whole ranks: (m1, m0) merge into m, a lone outer
    part m1 is repeated over its tile (a block pattern), ragged padding is cut off."""
    shapes = cascade.resolve_shapes(shapes)
    ranks = tuple(ranks)
    while True:
        part = next((r for r in ranks if cascade.ranks[r].parent is not None), None)
        if part is None:
            return data, ranks
        parent = cascade.ranks[part].parent
        outer, inner = cascade.split(parent)  # type: ignore[misc]
        if outer in ranks and inner in ranks:
            a, b = ranks.index(outer), ranks.index(inner)
            rest = [k for k in range(len(ranks)) if k not in (a, b)]
            data = data.transpose(rest + [a, b])
            data = data.reshape(data.shape[:-2] + (-1,))[..., :shapes[parent]]
            ranks = tuple(ranks[k] for k in rest) + (parent,)
        elif outer in ranks:
            a = ranks.index(outer)
            data = np.repeat(data, shapes[inner], axis=a).take(np.arange(shapes[parent]), axis=a)
            ranks = ranks[:a] + (parent,) + ranks[a + 1:]
        else:
            raise CascadeError(f"cannot expand '{inner}' without '{outer}' to rank '{parent}'")


def attention_reference(cascade: Cascade, inputs: dict[str, np.ndarray],
                        shapes: dict[str, int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Masked softmax attention of the cascade's Q, K, V: (output, its ranks)."""
    _require_qkv(cascade)
    full = cascade.resolve_shapes(shapes)
    arrays = {}
    for t in ("Q", "K", "V"):
        arrays[t] = expand_to_roots(cascade, inputs[t], cascade.tensors[t].ranks, full)
    (q, qr), (k, kr), (v, vr) = arrays["Q"], arrays["K"], arrays["V"]
    batch = [r for r in qr if r in kr and r in vr]
    keys = [r for r in kr if r in vr and r not in batch]
    query = [r for r in qr if r not in kr]
    if len(keys) != 1:
        raise CascadeError(f"cannot tell the key rank of '{cascade.name}': K and V share {keys}")
    scores_r = tuple(batch + query + keys)
    letters = {r: chr(ord("a") + n) for n, r in enumerate(dict.fromkeys(qr + kr + vr))}

    def sub(rs) -> str:
        return "".join(letters[r] for r in rs)

    s = np.einsum(f"{sub(qr)},{sub(kr)}->{sub(scores_r)}", q, k)
    for name in cascade.patterns:
        pat, pr = expand_to_roots(cascade, inputs[name].astype(bool), cascade.tensors[name].ranks, full)
        order = [r for r in scores_r if r in pr]
        aligned = pat.transpose([pr.index(r) for r in order])
        shape = [aligned.shape[order.index(r)] if r in pr else 1 for r in scores_r]
        s = np.where(aligned.reshape(shape), s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    a = np.exp(s)
    a /= a.sum(axis=-1, keepdims=True)
    out_r = tuple(r for r in vr if r not in keys and r not in batch)
    out_r = tuple(batch) + tuple(query) + out_r
    out = np.einsum(f"{sub(scores_r)},{sub(vr)}->{sub(out_r)}", a, v)
    return out, out_r


def _require_qkv(cascade: Cascade) -> None:
    """Softmax attention reads Q, K and V: a cascade without them cannot be checked against it."""
    missing = [t for t in ("Q", "K", "V") if t not in cascade.inputs]
    if missing:
        raise CascadeError(f"cannot check '{cascade.name}' against attention: it has no input(s) "
                           f"{', '.join(missing)} (attention cascades read Q, K and V)")


def require_checkable(cascade: Cascade, random: bool = True) -> None:
    """Refuse a check against attention, before any work, of a cascade that is not attention:
    no Q, K, V; more than one output; or (on random inputs) an input other than Q, K, V and
    the @patterns, such as an additive mask or dropout's, whose random values change it."""
    _require_qkv(cascade)
    outs = cascade.outputs
    if len(outs) != 1:
        raise CascadeError(f"cannot check '{cascade.name}': it has {len(outs)} outputs "
                           f"({', '.join(outs)}), attention has one")
    other = [t for t in cascade.inputs if t not in ("Q", "K", "V") and t not in cascade.patterns]
    if random and other:
        raise CascadeError(f"cannot check '{cascade.name}' against attention on random inputs: "
                           f"its input(s) {', '.join(other)} are not Q, K, V or a @pattern, "
                           f"which is all the reference softmax attention reads")


def check_attention(cascade: Cascade, shapes: dict[str, int], seed: int = 0,
                    inputs: dict[str, np.ndarray] | None = None,
                    result: RunResult | None = None) -> float:
    """Max absolute error of the cascade's output against attention, on random inputs (or the
    given ones, and the given result of running on them). Random values in any other input
    (an additive mask, dropout's) would not be attention, so such a cascade needs `inputs`."""
    require_checkable(cascade, random=inputs is None)
    inputs = inputs if inputs is not None else random_inputs(cascade, shapes, seed)
    result = result if result is not None else run(cascade, inputs, shapes)
    outs = cascade.outputs
    got, got_r = expand_to_roots(cascade, result.tensors[outs[0]], cascade.tensors[outs[0]].ranks,
                                 shapes)
    ref, ref_r = attention_reference(cascade, inputs, shapes)
    if set(got_r) != set(ref_r):
        raise CascadeError(f"output '{outs[0]}' has ranks {','.join(got_r)}, attention's output has "
                           f"{','.join(ref_r)}")
    got = got.transpose([got_r.index(r) for r in ref_r])
    return float(np.max(np.abs(got - ref))) if got.size else 0.0
