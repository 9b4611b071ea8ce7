"""The estimator: time, utilisation, traffic and action counts of many mappings at once.

Its input is a batch of compiled mappings as plain arrays (structure of arrays). Per Einsum of
a mapping: the unit it is bound to, its operations by type, the PEs it keeps busy, the bytes it
reads and writes at every memory level and moves over every link, and the stage of the schedule
it belongs to. Any array may have a leading dimension of 1 instead of n to share it across the
batch (the parts of a mapping a search does not vary).

Latency composes from the schedule alone, so no design needs its own formula:
- a *sequential* stage runs its Einsums one after another, each overlapping its own transfers:
  t = sum_e max(compute_e, transfer_e);
- a *pipelined* stage runs its Einsums on their units concurrently, in N epochs (FuseMax's
  interleaved binding; N = 1 leaves the units taking turns): with b_u the busy time of unit u,
  compute = sum_u b_u / N + (N - 1) * max_u b_u / N (fill, steady state, drain), and
  t = max(compute, transfer time of every memory level and link in the stage).
Stages add. Memory time is (read + write bytes) / bandwidth per level and bytes / bandwidth per
link: the assumptions are stated in `ASSUMPTIONS` and reported with every result.

Big batches are split by rows over Numba's threads (`row_chunks`); every mapping is scored on
its own, so the results are the same on any number of threads.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numba
import numpy as np
from numba import njit, prange

SEQUENTIAL, PIPELINED = 0, 1

ASSUMPTIONS = (
    "compute time = sum over ops of ops * cycles_per_op / PEs used / frequency",
    "a unit keeps at most its spec's `attainable` share of its PEs busy (1 unless the spec"
    " gives a measured ceiling), round by round (a full wave is capped, its tail may not be)",
    "memory time = (read + write bytes) / bandwidth per level; link time = bytes / bandwidth",
    "within an Einsum, compute and its transfers overlap fully (time = max)",
    "sequential stage: Einsums add; pipelined stage of N epochs: sum_u b_u/N + (N-1) max_u b_u/N,"
    " overlapped with all the stage's transfers; stages add",
    "ideal time = max over units of their work at full PEs (the peak) with free memory",
)


@dataclass(frozen=True)
class ArchArrays:
    """An architecture as the estimator sees it: units, memory levels and links as arrays."""

    units: tuple[str, ...]
    levels: tuple[str, ...]
    links: tuple[str, ...]
    ops: tuple[str, ...]
    actions: tuple[str, ...]
    cycles_per_op: np.ndarray   # [U, O], inf where a unit cannot run an op
    lanes: np.ndarray           # [U] PEs of the unit (all instances)
    frequency_hz: np.ndarray    # [U]
    action_per_op: np.ndarray   # [U, O, A] actions one op costs on the unit
    level_bandwidth: np.ndarray  # [L] bytes/s (all instances), inf if never a bottleneck
    level_capacity: np.ndarray   # [L] bytes per instance, inf if unbounded
    link_bandwidth: np.ndarray   # [K] bytes/s
    attainable_lanes: np.ndarray  # [U] PEs the unit keeps busy at most at once (spec `attainable`)

    @classmethod
    def from_arch(cls, arch) -> "ArchArrays":
        """Arrays of an `archsim.spec.Architecture`, in its deterministic orders."""
        from .spec import OPS

        units, levels, links = arch.units(), arch.memory_levels(), arch.link_names()
        cpo = np.full((len(units), len(OPS)), np.inf)
        act = np.zeros((len(units), len(OPS), len(OPS)))
        for u, name in enumerate(units):
            for o, op in enumerate(OPS):
                spec = arch.computes[name].ops.get(op)
                if spec is None:
                    continue
                cpo[u, o] = spec.cycles
                for a, n in spec.actions.items():
                    act[u, o, OPS.index(a)] = n
        mem = [arch.memories[m] for m in levels]
        return cls(
            units, levels, links, tuple(OPS), tuple(OPS), cpo,
            np.array([arch.computes[u].lanes for u in units], float),
            np.array([arch.computes[u].frequency_hz for u in units], float),
            act,
            np.array([m.bandwidth_bytes_per_s * m.count for m in mem], float),
            np.array([m.capacity_bytes for m in mem], float),
            np.array([arch.links[k].bandwidth_bytes_per_s * arch.links[k].count for k in links],
                     float),
            np.array([arch.computes[u].attainable_lanes for u in units], float),
        )


@dataclass
class MappingBatch:
    """Compiled mappings (leading dimension n, or 1 to share across the batch)."""

    unit: np.ndarray          # [n|1, E] int: unit index of each Einsum
    ops: np.ndarray           # [n|1, E, O] operations by type
    lanes_used: np.ndarray    # [n|1, E] PEs kept busy (spatial fan-out)
    read_bytes: np.ndarray    # [n|1, E, L] bytes read from each memory level
    write_bytes: np.ndarray   # [n|1, E, L] bytes written to each memory level
    link_bytes: np.ndarray    # [n|1, E, K]
    stage: np.ndarray         # [n|1, E] int: stage index
    stage_mode: np.ndarray    # [n|1, S] int: SEQUENTIAL or PIPELINED
    stage_epochs: np.ndarray  # [n|1, S] epochs of a pipelined stage
    rf_accesses: np.ndarray | None = None  # [n|1, E] register-file accesses, all PEs (words)
    rounds: np.ndarray | None = None  # [n|1, E] rounds of each Einsum's stage (default 1)
    tail: np.ndarray | None = None    # [n|1, E] the last round's share of a full one (default 1)

    def __len__(self) -> int:
        return max(getattr(self, f.name).shape[0] for f in fields(self)
                   if getattr(self, f.name) is not None)


@dataclass
class Estimate:
    """Per mapping: latency split into ideal / compute / transfer, busy time and utilisation per
    unit, time per stage, bytes per level and link, action counts and register-file accesses
    (when the batch has them) per unit."""

    latency_s: np.ndarray      # [n]
    ideal_s: np.ndarray        # [n] all units at full PEs, free memory
    compute_s: np.ndarray      # [n] the schedule with free memory
    transfer_s: np.ndarray     # [n] the schedule with free compute
    busy_s: np.ndarray         # [n, U]
    utilisation: np.ndarray    # [n, U] useful PE-cycles / (PEs * latency cycles)
    stage_s: np.ndarray        # [n, S]
    read_bytes: np.ndarray     # [n, L]
    write_bytes: np.ndarray    # [n, L]
    link_bytes: np.ndarray     # [n, K]
    actions: np.ndarray        # [n, U, A]
    busy_cycles: np.ndarray | None = None  # [n, U] busy_s in each unit's own clock cycles
    rf_accesses: np.ndarray | None = None  # [n, U] register-file accesses, all PEs (words)
    assumptions: tuple[str, ...] = ASSUMPTIONS


def estimate(arch: ArchArrays, batch: MappingBatch, out: Estimate | None = None) -> Estimate:
    """Score every mapping of `batch` on `arch` (one compiled Numba call); `out`, a previous
    Estimate for as many mappings, is overwritten instead of allocating new arrays."""
    n = len(batch)
    U, L, K, A = len(arch.units), len(arch.levels), len(arch.links), len(arch.actions)
    S = batch.stage_mode.shape[1]
    if out is not None and len(out.latency_s) == n and out.stage_s.shape[1] == S:
        for f in fields(out):
            if f.name not in ("assumptions", "busy_cycles", "rf_accesses"):
                getattr(out, f.name)[...] = 0.0
    else:
        out = Estimate(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, U)),
                       np.zeros((n, U)), np.zeros((n, S)), np.zeros((n, L)), np.zeros((n, L)),
                       np.zeros((n, K)), np.zeros((n, U, A)))
    ones = np.ones((1, batch.unit.shape[-1]))
    if batch.rf_accesses is None:
        rf, rf_out = np.zeros((1, 0)), np.zeros((1, 0))
    else:
        rf = np.ascontiguousarray(batch.rf_accesses, float)
        if rf.ndim != 2 or rf.shape[1] != batch.unit.shape[-1]:
            raise ValueError(f"rf_accesses has shape {rf.shape}, the batch has "
                             f"{batch.unit.shape[-1]} Einsums")
        rf_out = np.zeros((n, U))
    args = (
        np.ascontiguousarray(batch.unit, np.int64), np.ascontiguousarray(batch.ops, float),
        np.ascontiguousarray(batch.lanes_used, float),
        np.ascontiguousarray(ones if batch.rounds is None else batch.rounds, float),
        np.ascontiguousarray(ones if batch.tail is None else batch.tail, float),
        np.ascontiguousarray(batch.read_bytes, float),
        np.ascontiguousarray(batch.write_bytes, float), np.ascontiguousarray(batch.link_bytes, float),
        np.ascontiguousarray(batch.stage, np.int64), np.ascontiguousarray(batch.stage_mode, np.int64),
        np.ascontiguousarray(batch.stage_epochs, float),
        arch.cycles_per_op, arch.lanes, arch.attainable_lanes, arch.frequency_hz,
        arch.action_per_op, arch.level_bandwidth, arch.link_bandwidth,
        out.latency_s, out.ideal_s, out.compute_s, out.transfer_s, out.busy_s, out.utilisation,
        out.stage_s, out.read_bytes, out.write_bytes, out.link_bytes, out.actions, rf, rf_out)
    chunks = row_chunks(n)
    if chunks is None:
        _estimate(0, n, *args)
    else:
        _estimate_chunks(chunks, *args)
    out.busy_cycles = out.busy_s * arch.frequency_hz
    out.rf_accesses = None if batch.rf_accesses is None else rf_out
    return out


@njit(cache=True)
def capped_seconds(cycles: float, lanes: float, attainable: float, rounds: float, tail: float,
                   freq: float) -> float:
    """Seconds an Einsum's PE-`cycles` take on `lanes` PEs in use (averaged over its `rounds`,
    the last holding `tail` of a full one) on a unit that keeps at most `attainable` PEs busy
    at once: each round is held to the cap on its own (a full wave is, its tail may not be)."""
    full = lanes * rounds / (rounds - 1.0 + tail)  # PEs a full round uses
    if full <= attainable:
        return cycles / lanes / freq
    per = cycles / (rounds - 1.0 + tail)  # PE-cycles of a full round
    return ((rounds - 1.0) * per / attainable + tail * per / min(tail * full, attainable)) / freq


#: below this many mappings one thread scores them all (the threads' start-up would dominate)
PARALLEL_MIN_ROWS = 4096
ROWS_PER_CHUNK = 1024  # at least this many rows a chunk
_serial = False


def serial_only() -> None:
    """Score on the calling thread from now on: for worker processes, which a sweep runs side
    by side (one thread each), and which may be forked from a parent whose thread pool the
    child must not touch."""
    global _serial
    _serial = True


@contextmanager
def one_thread():
    """Score on the calling thread inside the block (a benchmark's one-thread baseline)."""
    global _serial
    before, _serial = _serial, True
    try:
        yield
    finally:
        _serial = before


def row_chunks(n: int) -> np.ndarray | None:
    """Row bounds splitting n mappings over Numba's threads (a few chunks per thread), or None
    to score them in one run on this thread: small batches, `serial_only`, one thread, or a
    call from a thread other than the main one (a threaded Dask worker: Numba's pool is then
    left alone). Each mapping is scored on its own, so results do not depend on the split."""
    if n < PARALLEL_MIN_ROWS or _serial or threading.current_thread() is not \
            threading.main_thread():
        return None
    threads = numba.get_num_threads()
    chunks = min(4 * threads, n // ROWS_PER_CHUNK)
    return None if threads < 2 or chunks < 2 else np.linspace(0, n, chunks + 1).astype(np.int64)


@njit(cache=True, parallel=True)
def _estimate_chunks(bounds, unit, ops, lanes_used, rounds, tail, rd, wr, lk, stage, mode,
                     epochs, cpo, lanes, attainable, freq, act, bw, link_bw, latency, ideal,
                     compute, transfer, busy, util, stage_s, rd_out, wr_out, lk_out,
                     actions, rf, rf_out):  # pragma: no cover - compiled; via estimate()
    for c in prange(bounds.shape[0] - 1):
        _estimate(bounds[c], bounds[c + 1], unit, ops, lanes_used, rounds, tail, rd, wr, lk,
                  stage, mode, epochs, cpo, lanes, attainable, freq, act, bw, link_bw,
                  latency, ideal, compute, transfer, busy, util, stage_s, rd_out, wr_out,
                  lk_out, actions, rf, rf_out)


@njit(cache=True)
def _row(arr_rows: int, i: int) -> int:
    return i if arr_rows > 1 else 0


@njit(cache=True)
def _estimate(lo, hi, unit, ops, lanes_used, rounds, tail, rd, wr, lk, stage, mode, epochs,
              cpo, lanes, attainable, freq, act, bw, link_bw,
              latency, ideal, compute, transfer, busy, util, stage_s, rd_out, wr_out, lk_out,
              actions, rf, rf_out):  # pragma: no cover - compiled; covered through estimate()
    """Score mappings lo..hi-1 into the output arrays (rows outside are not touched); `rf`
    ([n|1, E] register-file accesses per Einsum, or [1, 0] for none) is summed per unit into
    `rf_out`."""
    E = unit.shape[1]
    O = ops.shape[2]
    L = rd.shape[2]
    K = lk.shape[2]
    U = lanes.shape[0]
    A = act.shape[2]
    S = mode.shape[1]
    stage_busy = np.zeros((S, U))      # seconds of busy time per unit in a stage
    stage_mem = np.zeros((S, L + K))   # seconds of transfer per level/link in a stage
    seq_time = np.zeros(S)             # sequential stages: sum of per-Einsum max
    seq_comp = np.zeros(S)
    seq_mem = np.zeros(S)
    work_s = np.zeros(U)               # work at full PEs, for the ideal time
    useful = np.zeros(U)               # PE-seconds of useful work
    e_cycles = np.zeros(E)             # PE-cycles of each Einsum (reused when ops are shared)
    for i in range(lo, hi):
        iu, io, il = _row(unit.shape[0], i), _row(ops.shape[0], i), _row(lanes_used.shape[0], i)
        iq, it = _row(rounds.shape[0], i), _row(tail.shape[0], i)
        ir, iw, ik = _row(rd.shape[0], i), _row(wr.shape[0], i), _row(lk.shape[0], i)
        ist, im, ie = _row(stage.shape[0], i), _row(mode.shape[0], i), _row(epochs.shape[0], i)
        stage_busy[:, :] = 0.0
        stage_mem[:, :] = 0.0
        seq_time[:] = 0.0
        seq_comp[:] = 0.0
        seq_mem[:] = 0.0
        work_s[:] = 0.0
        useful[:] = 0.0
        shared_work = i > lo and unit.shape[0] == 1 and ops.shape[0] == 1
        if shared_work:  # same binding and ops as this run's first mapping: its counts hold
            for u in range(U):
                for a in range(A):
                    actions[i, u, a] = actions[lo, u, a]
        for e in range(E):
            u = unit[iu, e]
            s = stage[ist, e]
            if shared_work:
                cycles = e_cycles[e]
            else:
                cycles = 0.0
                for o in range(O):
                    n_op = ops[io, e, o]
                    if n_op != 0.0:
                        cycles += n_op * cpo[u, o]
                        for a in range(A):
                            actions[i, u, a] += n_op * act[u, o, a]
                e_cycles[e] = cycles
            if attainable[u] >= lanes[u]:  # no ceiling: the common case, kept cheap
                t_comp = cycles / lanes_used[il, e] / freq[u]
            else:
                t_comp = capped_seconds(cycles, lanes_used[il, e], attainable[u], rounds[iq, e],
                                        tail[it, e], freq[u])
            if rf.shape[1] == E:
                rf_out[i, u] += rf[_row(rf.shape[0], i), e]
            work_s[u] += cycles / lanes[u] / freq[u]
            useful[u] += cycles / freq[u]
            busy[i, u] += t_comp
            stage_busy[s, u] += t_comp
            t_mem = 0.0
            for l in range(L):
                rd_out[i, l] += rd[ir, e, l]
                wr_out[i, l] += wr[iw, e, l]
                t = (rd[ir, e, l] + wr[iw, e, l]) / bw[l]
                stage_mem[s, l] += t
                t_mem = max(t_mem, t)
            for k in range(K):
                lk_out[i, k] += lk[ik, e, k]
                t = lk[ik, e, k] / link_bw[k]
                stage_mem[s, L + k] += t
                t_mem = max(t_mem, t)
            seq_time[s] += max(t_comp, t_mem)
            seq_comp[s] += t_comp
            seq_mem[s] += t_mem
        total = 0.0
        total_comp = 0.0
        total_mem = 0.0
        for s in range(S):
            if mode[im, s] == 0:
                t, tc, tm = seq_time[s], seq_comp[s], seq_mem[s]
            else:
                n_ep = epochs[ie, s]
                sum_b = 0.0
                max_b = 0.0
                for u in range(U):
                    sum_b += stage_busy[s, u]
                    max_b = max(max_b, stage_busy[s, u])
                tc = sum_b / n_ep + (n_ep - 1.0) * max_b / n_ep
                tm = 0.0
                for j in range(L + K):
                    tm = max(tm, stage_mem[s, j])
                t = max(tc, tm)
            stage_s[i, s] = t
            total += t
            total_comp += tc
            total_mem += tm
        latency[i] = total
        compute[i] = total_comp
        transfer[i] = total_mem
        best = 0.0
        for u in range(U):
            best = max(best, work_s[u])
            util[i, u] = useful[u] / (lanes[u] * total) if total > 0.0 else 0.0
        ideal[i] = best
