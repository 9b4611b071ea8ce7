"""The FuseMax reproduction: the paper's designs on its workloads, beside the artifact's numbers.

Rows use the columns of the artifact's attention.csv (config, model, seq_len, traffic_bytes,
latency_s, energy_pj, util_2d, util_1d) plus the published value of each where the artifact has
the point. Energy uses the artifact-compatible accounting, as the reproduction must; a design
whose artifact run deviates from its own hardware (the 1-pass cascade on FLAT's) runs with the
artifact's switches, which each row names in `artifact_switches`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from archsim.spec import load_arch
from mappers.mapping import Mapping
from mappers.flat import CASCADE_ARTIFACT_OVERRIDES, CASCADE_ARTIFACT_SIZING, cascade
from mappers.spatial import encoder_linear_layers

from .evaluate import DESIGNS, score
from .workloads import MODELS, Workload, label, parse_counts

DATA = Path(__file__).resolve().parent / "data" / "fusemax"
SEQS = parse_counts("1K..1M*4")
COLUMNS = ("traffic_bytes", "latency_s", "energy_pj", "util_2d", "util_1d")


@dataclass(frozen=True)
class Config:
    """An artifact config: the preset it runs on (with `overrides`), how its mapping is built,
    and the artifact-compatible switches it uses (empty: none)."""

    name: str
    arch: str
    build: Callable[[Workload, int, object], Mapping]
    linear_of: str
    overrides: tuple[str, ...] = ()
    switches: str = ""


CONFIGS = (
    Config("unfused", "unfused", DESIGNS["unfused"].build, "flat"),
    Config("flat", "flat", DESIGNS["flat"].build, "flat"),
    Config("cascade", "flat",
           lambda w, n, a: cascade(w.head_dim, n, w.batch * w.heads, a, artifact=True), "flat",
           CASCADE_ARTIFACT_OVERRIDES,
           "artifact's cascade run: " + ", ".join(CASCADE_ARTIFACT_OVERRIDES + tuple(
               f"P1 sized with {o}" for o in CASCADE_ARTIFACT_SIZING))
           + " (2-cycle exp without exp energy; 16 MiB sizing, 32 MiB pricing)"),
    Config("architecture", "fusemax", DESIGNS["architecture"].build, "fusemax"),
    Config("binding", "fusemax", DESIGNS["fusemax"].build, "fusemax"),
)


def published(name: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """Rows of an artifact CSV keyed by (config, model, seq_len)."""
    with open(DATA / name) as f:
        rows = list(csv.DictReader(f))
    key = "config" if "config" in rows[0] else "linear_layers_of"
    return {(r[key], r["model"], r["seq_len"]): r for r in rows}


def _score(m: Mapping, arch) -> dict[str, float]:
    """The artifact's columns for one mapping, from `score` (artifact accounting)."""
    r = score(m, arch, accounting="artifact")
    return {k: r[k] for k in ("traffic_bytes", "latency_s", "energy_pj")} | {
        "util_2d": r["utilisation"].get("pe2d", 0.0), "util_1d": r["utilisation"].get("pe1d", 0.0),
        "accounting": "artifact"}


def attention_rows(models: Iterable[str] = ("bert", "trxl", "t5", "xlm"),
                   seqs: Iterable[int] = SEQS, progress: Callable[[], None] | None = None
                   ) -> list[dict]:
    """One row per (config, model, seq): the model's numbers and the published ones."""
    ref = published("attention.csv")
    hw = {}
    rows = []
    for cfg in CONFIGS:
        preset = (cfg.arch, cfg.overrides)
        if cfg.build is not None and preset not in hw:
            hw[preset] = load_arch(cfg.arch, cfg.overrides)
        for key in models:
            w = MODELS[key]
            for n in seqs:
                row = {"config": cfg.name, "model": w.name, "seq_len": label(n)}
                a = hw[preset]
                row |= _score(cfg.build(w, n, a), a) | {"status": "modelled",
                                                       "artifact_switches": cfg.switches}
                pub = ref.get((cfg.name, w.name, label(n)))
                for col in COLUMNS:
                    row[f"published_{col}"] = float(pub[col]) if pub else None
                rows.append(row)
                if progress:
                    progress()
    return rows


def linear_rows(models: Iterable[str] = ("bert", "trxl", "t5", "xlm"),
                seqs: Iterable[int] = SEQS) -> list[dict]:
    """The encoder's linear layers on FLAT's and FuseMax's hardware, beside the published."""
    ref = published("linear_layers.csv")
    rows = []
    for hw_name in ("flat", "fusemax"):
        a = load_arch(hw_name)
        for key in models:
            w = MODELS[key]
            for n in seqs:
                total = {"traffic_bytes": 0.0, "latency_s": 0.0, "energy_pj": 0.0}
                for m in encoder_linear_layers(w.hidden, w.ffn, w.batch * n, a).values():
                    s = _score(m, a)
                    total = {k: total[k] + s[k] for k in total}
                pub = ref.get((hw_name, w.name, label(n)))
                rows.append({"linear_layers_of": hw_name, "model": w.name, "seq_len": label(n)}
                            | total | {f"published_{k}": float(pub[k]) if pub else None
                                       for k in total})
    return rows


def headline(rows: list[dict], linear: list[dict]) -> list[dict]:
    """Mean per-point speedup and energy ratio of FuseMax (binding) over each baseline, for
    attention and end to end (attention + linear layers): ours over every modelled point (the
    paper's means cover BERT, TrXL, T5 and XLM), and ours beside the artifact's over the points
    the artifact has (XLM is held back there)."""
    paper = {("unfused", "attention"): (10.0, 0.77), ("flat", "attention"): (6.7, 0.79),
             ("unfused", "end-to-end"): (7.6, 0.82), ("flat", "end-to-end"): (5.3, 0.83)}
    by = {(r["config"], r["model"], r["seq_len"]): r for r in rows}
    lin = {(r["linear_layers_of"], r["model"], r["seq_len"]): r for r in linear}
    out = []
    for (base, scope), (p_speed, p_energy) in paper.items():
        ours, shared, pub = [], [], []  # (speedup, energy ratio) per point
        for (cfg, model, seq), r in by.items():
            b = by.get((base, model, seq))
            if cfg != "binding" or b is None or "modelled" not in (b["status"], r["status"]) \
                    or b["status"] != r["status"]:
                continue
            extra = (lin.get(("fusemax", model, seq)), lin.get(("flat", model, seq))) \
                if scope == "end-to-end" else None
            mine = _ratio(r, b, extra, "")
            theirs = _ratio(r, b, extra, "published_")
            ours.append(mine)
            if theirs is not None:
                shared.append(mine)
                pub.append(theirs)
        out.append({"baseline": base, "scope": scope, "points": len(ours),
                    "speedup": _mean([x[0] for x in ours]),
                    "energy_ratio": _mean([x[1] for x in ours]),
                    "shared_points": len(shared),
                    "speedup_on_shared": _mean([x[0] for x in shared]),
                    "energy_ratio_on_shared": _mean([x[1] for x in shared]),
                    "published_speedup": _mean([x[0] for x in pub]),
                    "published_energy_ratio": _mean([x[1] for x in pub]),
                    "paper_speedup": p_speed, "paper_energy_ratio": p_energy})
    return out


def _ratio(r: dict, b: dict, extra, prefix: str) -> tuple[float, float] | None:
    """(baseline latency / FuseMax latency, FuseMax energy / baseline energy) of one point,
    with the linear layers added end to end (`extra` = FuseMax's, the baseline's); None when
    a published value is missing."""
    lat, en = r[prefix + "latency_s"], r[prefix + "energy_pj"]
    blat, ben = b[prefix + "latency_s"], b[prefix + "energy_pj"]
    if extra is not None:
        if None in extra:
            return None
        lat, en = _add(lat, extra[0], prefix, "latency_s"), _add(en, extra[0], prefix, "energy_pj")
        blat, ben = _add(blat, extra[1], prefix, "latency_s"), _add(ben, extra[1], prefix,
                                                                     "energy_pj")
    if None in (lat, en, blat, ben):
        return None
    return blat / lat, en / ben


def _add(value: float | None, row: dict, prefix: str, col: str) -> float | None:
    return None if value is None or row[prefix + col] is None else value + row[prefix + col]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
