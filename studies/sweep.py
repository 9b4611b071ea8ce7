"""Sweeps: every point of a grid evaluated with one design, results to Parquet as they finish.

A point is one value per axis (studies.grid). Points go out in batches (one task each, so the
per-task overhead of a process pool or a Dask cluster stays small); every finished batch is
written at once as its own Parquet part file (written under a hidden name, then renamed, so a
part is whole or absent), and the output directory reads as one Parquet dataset. Each row
carries a hash of its full configuration; a rerun skips the hashes already written, and reading
drops duplicates, so a sweep killed at any moment resumes with nothing lost or repeated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
import uuid
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from archsim.spec import Architecture, SpecError, load_arch
from einsum_cascades import CascadeError

from .evaluate import design, score
from .grid import WORKLOAD_FIELDS, Axis, grid_size
from .workloads import Workload

METRICS = ("latency", "energy", "edp")
META = "_sweep.json"


@dataclass(frozen=True)
class SweepConfig:
    """What every point of a sweep shares: architecture, design, workload and accounting."""

    arch: str
    overrides: tuple[str, ...]
    design: str
    workload: Workload
    seq: int | None = None
    accounting: str = "complete"

    def base_key(self) -> dict:
        """The configuration a point's axes vary, as plain data (the base spec as text)."""
        spec = load_arch(self.arch, self.overrides).to_yaml()
        return {"spec_sha256": hashlib.sha256(spec.encode()).hexdigest(),
                "design": self.design, "workload": asdict(self.workload) | {"source": ""},
                "seq": self.seq, "accounting": self.accounting}


def points(axes: list[Axis]) -> Iterator[tuple[int, ...]]:
    """Index tuples of every grid point (the last axis varying fastest)."""
    return itertools.product(*(range(len(a.values)) for a in axes))


def point_hash(base: dict, settings: dict[str, str]) -> str:
    """A hash of a point's full configuration: the base, and each axis's value (its number,
    so `1MiB` and `1048576B` are one point; a shape as text)."""
    text = json.dumps({"base": base, "point": dict(sorted(settings.items()))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _hashed(names: tuple[str, ...] | list[str], point: tuple) -> dict[str, str]:
    """What a point's hash covers of each axis: its value's repr."""
    return {n: repr(v) for n, (v, _) in zip(names, point)}


# ----------------------------------------------------------------------------- architectures
class ArchCache:
    """Architectures for points of a sweep without reparsing the spec for each: a `--set` is
    checked by the spec loader and its effect (the component fields it changes) applied to
    the base; overrides touching one field together go to the loader. A numeric path whose
    loaded effect is that one field set to the value itself (a capacity in bytes, a bandwidth
    in bytes/s) takes its other values directly: the grid checked its smallest and largest
    value with the loader, and a value between two accepted ones of the same unit is taken to
    be accepted too."""

    def __init__(self, arch: str, overrides: tuple[str, ...]) -> None:
        self.name, self.overrides = arch, overrides
        self.base = load_arch(arch, overrides)
        self._effect: dict[str, dict[tuple[str, str], dict]] = {}
        self._direct: dict[str, tuple[str, str, str]] = {}
        self._combo: dict[tuple[str, ...], Architecture] = {}

    def effect(self, setting: str, value: object = None) -> dict[tuple[str, str], dict]:
        """{(group, component): {field: value}} that one `PATH=VALUE` changes (`value`: the
        number the grid parsed from VALUE, if any)."""
        path = setting.partition("=")[0]
        if isinstance(value, float) and path in self._direct:
            group, name, field = self._direct[path]
            return {(group, name): {field: value}}
        if setting not in self._effect:
            a = load_arch(self.name, (*self.overrides, setting))
            out: dict[tuple[str, str], dict] = {}
            for group in ("memories", "computes", "links"):
                old, new = getattr(self.base, group), getattr(a, group)
                if set(old) != set(new):
                    out[("*", "*")] = {}
                for name in set(old) & set(new):
                    diff = {f.name: getattr(new[name], f.name) for f in fields(new[name])
                            if getattr(new[name], f.name) != getattr(old[name], f.name)}
                    if diff:
                        out[(group, name)] = diff
            top = {f.name: getattr(a, f.name) for f in fields(a)
                   if f.name not in ("memories", "computes", "links")
                   and getattr(a, f.name) != getattr(self.base, f.name)}
            if top:
                out[("top", "")] = top
            self._effect[setting] = out
        out = self._effect[setting]
        if isinstance(value, float) and len(out) == 1:
            (group, name), diff = next(iter(out.items()))
            if group != "top" and len(diff) == 1 and next(iter(diff.values())) == value:
                self._direct[path] = (group, name, next(iter(diff)))
        return out

    def arch(self, settings: tuple[str, ...], values: tuple = ()) -> Architecture:
        """The base with these `PATH=VALUE` settings applied (`values`: their numbers)."""
        if settings not in self._combo:
            if len(self._combo) > 4096:
                self._combo.clear()
            self._combo[settings] = self._compose(settings, values or (None,) * len(settings))
        return self._combo[settings]

    def _compose(self, settings: tuple[str, ...], values: tuple) -> Architecture:
        effects = [self.effect(s, v) for s, v in zip(settings, values)]
        touched = [(k, f) for e in effects for k, d in e.items() for f in d]
        structural = any(("*", "*") in e or ("top", "") in e for e in effects)
        if len(touched) != len(set(touched)) or structural and len(settings) > 1:
            return load_arch(self.name, (*self.overrides, *settings))
        groups = {g: dict(getattr(self.base, g)) for g in ("memories", "computes", "links")}
        for e in effects:
            for (group, name), diff in e.items():
                if group == "top":
                    continue
                groups[group][name] = replace(groups[group][name], **diff)
        top = {k: v for e in effects for k, v in e.get(("top", ""), {}).items()}
        return replace(self.base, **groups, **top)


_CACHES: dict[tuple, ArchCache] = {}


def _cache(cfg: SweepConfig) -> ArchCache:
    key = (cfg.arch, cfg.overrides)
    if key not in _CACHES:
        _CACHES[key] = ArchCache(cfg.arch, cfg.overrides)
    return _CACHES[key]


# ----------------------------------------------------------------------------- evaluation
def metric_columns(units: tuple[str, ...]) -> list[str]:
    """The result columns of every row, in order."""
    return (["latency_s", "ideal_s", "compute_s", "transfer_s", "energy_pj", "edp_js",
             "traffic_bytes"] + [f"utilisation.{u}" for u in units])


def evaluate_batch(cfg: SweepConfig, base: dict, names: tuple[str, ...],
                   batch: list[tuple]) -> dict[str, list]:
    """Rows (as columns) for a batch of points, each a tuple of (value, text) per axis; a point
    whose mapping does not fit keeps its row, with NaN metrics and the reason in `error`."""
    cache = _cache(cfg)
    d = design(cfg.design)
    units = cache.base.units()
    cols = metric_columns(units)
    out: dict[str, list] = {n: [] for n in (*names, *cols, "error", "hash")}
    for point in batch:
        settings = {n: t for n, (_, t) in zip(names, point)}
        spec = tuple(f"{n}={t}" for n, t in settings.items() if n not in WORKLOAD_FIELDS)
        numbers = tuple(v for n, (v, _) in zip(names, point) if n not in WORKLOAD_FIELDS)
        wl = {n: v for n, (v, _) in zip(names, point) if n in WORKLOAD_FIELDS}
        seq = wl.pop("seq", cfg.seq)
        row: dict[str, float] = {}
        error = ""
        try:
            arch = cache.arch(spec, numbers)
            s = score(d.build(replace(cfg.workload, **wl), seq, arch), arch, cfg.accounting)
            row = {k: s[k] for k in ("latency_s", "ideal_s", "compute_s", "transfer_s",
                                     "energy_pj", "traffic_bytes")}
            row["edp_js"] = s["energy_pj"] * 1e-12 * s["latency_s"]
            row |= {f"utilisation.{u}": v for u, v in s["utilisation"].items()}
        except (CascadeError, SpecError, ValueError) as exc:  # MappingError is a CascadeError
            error = " ".join(str(exc).split()) or type(exc).__name__
        for n, (v, _) in zip(names, point):
            out[n].append(v)
        for c in cols:
            out[c].append(float(row.get(c, math.nan)))
        out["error"].append(error)
        out["hash"].append(point_hash(base, _hashed(names, point)))
    return out


# ----------------------------------------------------------------------------- storage
class PartWriter:
    """A sweep's output: a directory of Parquet parts (one per finished batch), read as one
    table with duplicate hashes dropped."""

    def __init__(self, out: Path, key: dict) -> None:
        self.out = Path(out)
        meta = self.out / META
        # hidden files do not count: a write cut short leaves a .tmp-* one, Finder a .DS_Store
        if self.out.exists() and (not self.out.is_dir() or not meta.exists() and any(
                not p.name.startswith(".") for p in self.out.iterdir())):
            raise ValueError(f"--out {out} exists and is not a sweep directory (a sweep writes "
                             f"into a new or empty directory, or resumes its own)")
        self.out.mkdir(parents=True, exist_ok=True)
        if meta.exists():
            old = _read_meta(meta)
            if old != key:
                diff = ", ".join(k for k in key if old.get(k) != key.get(k)) or "configuration"
                raise ValueError(f"--out {out} holds another sweep (it differs in: {diff}); "
                                 f"use another --out")
        else:
            _atomic_write(meta, json.dumps(key, indent=2, sort_keys=True).encode())

    def done(self) -> set[str]:
        """Hashes of the points already written."""
        parts = self.parts()
        if not parts:
            return set()
        return set(pq.read_table(parts, columns=["hash"]).column("hash").to_pylist()) \
            if len(parts) == 1 else set(itertools.chain.from_iterable(
                pq.read_table(p, columns=["hash"]).column("hash").to_pylist() for p in parts))

    def parts(self) -> list[Path]:
        return sorted(self.out.glob("part-*.parquet"))

    def write(self, columns: dict[str, list]) -> None:
        """One part file, atomically (hidden temporary name, fsync, rename)."""
        table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
        tmp = self.out / f".tmp-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.out / f"part-{uuid.uuid4().hex}.parquet")

    def compact(self) -> None:
        """All parts as one (the new part is in place before the old ones go; a kill between
        leaves duplicates, which reading drops)."""
        parts = self.parts()
        if len(parts) > 1:
            self.write({k: v for k, v in read_results(self.out).to_dict("list").items()})
            for p in parts:
                p.unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_meta(meta: Path) -> dict:
    """A sweep directory's configuration; anything else there is refused in one line."""
    try:
        old = json.loads(meta.read_text())
    except (ValueError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise ValueError(f"{meta}: not a sweep's configuration ({reason})") from None
    if not isinstance(old, dict):
        raise ValueError(f"{meta}: not a sweep's configuration (not a JSON object)")
    return old


def read_results(out: str | Path) -> pd.DataFrame:
    """A sweep's rows, one per point (duplicates by hash dropped)."""
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise ValueError(f"{out}: no sweep results there")
    tables = [pq.read_table(p).to_pandas() for p in parts]
    foreign = next((p for p, t in zip(parts, tables) if "hash" not in t), None)
    if foreign is not None:
        raise ValueError(f"{foreign}: not a sweep's part (no 'hash' column)")
    df = pd.concat(tables, ignore_index=True)
    meta = Path(out) / META
    axes = _read_meta(meta).get("axes", []) if meta.exists() else []
    if not (isinstance(axes, list) and all(isinstance(a, str) for a in axes)):
        raise ValueError(f"{meta}: not a sweep's configuration ('axes' is not a list of names)")
    df = df.drop_duplicates("hash")
    return df.sort_values([a for a in axes if a in df]).reset_index(drop=True) if axes else \
        df.reset_index(drop=True)


# ----------------------------------------------------------------------------- running
@dataclass
class SweepReport:
    """What a run did."""

    total: int
    skipped: int
    evaluated: int
    failed: int
    seconds: float
    interrupted: bool
    out: str

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else math.nan


def batch_size(todo: int, workers: int) -> int:
    """Points per task: about 8 tasks per worker, between 16 and 512 points each."""
    return max(16, min(512, math.ceil(todo / max(1, workers) / 8)))


def pending(axes: list[Axis], base: dict, done: set[str]) -> list[tuple]:
    """The points not yet written, each a tuple of (value, text) per axis."""
    names = [a.name for a in axes]
    todo = []
    for idx in points(axes):
        point = tuple((a.values[i], a.texts[i]) for a, i in zip(axes, idx))
        if point_hash(base, _hashed(names, point)) not in done:
            todo.append(point)
    return todo


def run_sweep(cfg: SweepConfig, axes: list[Axis], out: str | Path, *, workers: int = 1,
              scheduler: str | None = None, batch: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepReport:
    """Evaluate the points of the grid not yet in `out`, writing each finished batch there.

    `workers` local processes (1: in this process), or the Dask scheduler at `scheduler`.
    `progress(done, total)` is called as batches finish. Ctrl-C stops after cancelling what
    has not started; what is written stays."""
    import time

    names = tuple(a.name for a in axes)
    if len(set(names)) != len(names):
        raise ValueError(f"--grid names a field twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    if "seq" not in names and cfg.seq is None:
        raise ValueError("give --seq, or sweep it with --grid seq=...")
    if "seq" in names and cfg.seq is not None:
        raise ValueError("give --seq or --grid seq=..., not both")
    if not str(out).strip():
        raise ValueError("--out is empty: name the sweep's directory, e.g. --out gb.parquet")
    total = grid_size(axes)
    key = cfg.base_key()
    writer = PartWriter(Path(out), key | {"axes": list(names)})
    todo = pending(axes, key, writer.done())
    skipped = total - len(todo)
    if scheduler and batch is None and todo:
        workers = _dask_threads(scheduler)
    size = batch or batch_size(len(todo), workers)
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    start = time.perf_counter()
    done = failed = 0
    interrupted = False
    if progress:
        progress(skipped, total)
    runner = _dask if scheduler else _pool if workers > 1 else _inline
    try:
        for cols in runner(cfg, key, names, batches, workers, scheduler):
            writer.write(cols)
            done += len(cols["hash"])
            failed += sum(1 for e in cols["error"] if e)
            if progress:
                progress(skipped + done, total)
    except KeyboardInterrupt:
        interrupted = True
    if not interrupted:
        writer.compact()
    return SweepReport(total, skipped, done, failed, time.perf_counter() - start, interrupted,
                       str(out))


def _inline(cfg, key, names, batches, workers, scheduler):
    for b in batches:
        yield evaluate_batch(cfg, key, names, b)


def _worker_init() -> None:
    """Pool workers leave Ctrl-C to the parent (which cancels what has not started), on Linux
    die with it (a killed sweep leaves no orphans), and score on their one thread (the
    processes are the parallelism; a forked child must not use the parent's thread pool)."""
    import signal

    from archsim.estimator import serial_only

    serial_only()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _pool(cfg, key, names, batches, workers, scheduler):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    futures = []
    try:
        futures = [pool.submit(evaluate_batch, cfg, key, names, b) for b in batches]
        for f in as_completed(futures):
            yield f.result()
    finally:
        # stopped early (Ctrl-C): the batches in flight are lost anyway (only finished ones
        # are written), so their workers are ended now rather than waited for at exit
        running = [] if all(f.done() for f in futures) else list(pool._processes.values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in running:
            proc.terminate()


def _dask_threads(scheduler: str) -> int:
    """Worker threads of the cluster at `scheduler` (batches are sized for them)."""
    from distributed import Client

    with Client(scheduler, timeout="10s") as client:
        return max(1, sum(client.nthreads().values()))


def _dask(cfg, key, names, batches, workers, scheduler):
    from distributed import Client, as_completed

    with Client(scheduler, timeout="10s") as client:
        n = len(batches)
        futures = client.map(evaluate_batch, [cfg] * n, [key] * n, [names] * n, batches,
                             pure=False)
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            client.cancel(futures)
