"""Sweeps: grid parsing and units, rows and hashes, resume after a kill, bad grids in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from archsim.spec import SpecError, load_arch
from studies.cli import app
from studies.evaluate import DESIGNS, score
from studies.grid import grid_size, parse_grid
from studies.sweep import ArchCache, SweepConfig, read_results, run_sweep
from studies.workloads import model

BERT = model("bert")


def test_grid_lists_ranges_and_units():
    a = parse_grid("global_buffer.capacity=256KiB..64MiB*2")
    assert a.values[0] == 256 * 1024 and a.values[-1] == 64 * 2**20 and len(a.values) == 9
    assert a.texts[:2] == ("256KiB", "512KiB")
    assert parse_grid("seq=1K..64K*4").values == (1024, 4096, 16384, 65536)
    assert parse_grid("seq=1K..60K*4").values == (1024, 4096, 16384)  # STOP not reached
    assert parse_grid("batch=1,8,64").values == (1, 8, 64)
    assert parse_grid("dram.bandwidth=100GB/s,1TB/s").values == (100e9, 1e12)
    assert parse_grid("pe2d.frequency=500MHz..2GHz*2").values == (500e6, 1e9, 2e9)
    shape = parse_grid("pe2d.shape=64x64,128x128")
    assert shape.values == ("64x64", "128x128") and shape.texts[0] == "[64, 64]"
    fine = parse_grid("global_buffer.capacity=1MiB..2MiB*1.1")  # fractional factor: whole bytes
    assert len(fine.values) == 8 and all(float(v).is_integer() for v in fine.values)
    assert grid_size([a, shape]) == 18


@pytest.mark.parametrize("item, message", [
    ("foo", "expected NAME=V1,V2"),
    ("seq=", "no values after '='"),
    ("global_buffer.capcity=1MiB", "did you mean 'capacity'"),
    ("global_bufer.capacity=1MiB", "closest: 'global_buffer.capacity'"),
    ("seq=4K..1K*2", "must grow"),
    ("sq=1K", "did you mean 'seq'"),
    ("global_buffer.capacity=1MiB..2MiB", "START..STOP*FACTOR"),
    ("dram.bandwidth=3", "expected a bandwidth"),
    ("seq=1K,1K", "repeats"),
    ("global_buffer.capacity=1MiB,1048576B,1024KiB", "a value repeats in other units"),
])
def test_bad_grids_are_one_line(item, message):
    with pytest.raises((ValueError, SpecError)) as exc:
        parse_grid(item)
    text = "\n".join(exc.value.problems) if isinstance(exc.value, SpecError) else str(exc.value)
    assert message in text and "\n" not in text
    r = CliRunner().invoke(app, ["sweep", "--model", "bert", "--seq", "1K", "--grid", item,
                                 "--out", "unused.parquet"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and message in r.output


def test_composed_architectures_equal_the_spec_loader():
    """A point's architecture built from per-override effects is the one load_arch builds."""
    cache = ArchCache("fusemax", ("pe1d.frequency=1GHz",))
    for sets in [("global_buffer.capacity=1MiB", "dram.bandwidth=1TB/s"),
                 ("pe2d.shape=[128, 128]", "global_buffer.capacity=4MiB"),
                 ("global_buffer.capacity=2MiB", "global_buffer.bandwidth=1TB/s")]:
        assert cache.arch(sets) == load_arch("fusemax", ("pe1d.frequency=1GHz", *sets))
    # a numeric path seen once through the loader takes its other values directly
    cache.arch(("global_buffer.capacity=1MiB",), (float(2**20),))
    assert "global_buffer.capacity" in cache._direct
    for text, value in (("3MiB", 3.0 * 2**20), ("1234567B", 1234567.0)):
        got = cache.arch((f"global_buffer.capacity={text}",), (value,))
        assert got == load_arch("fusemax", ("pe1d.frequency=1GHz",
                                            f"global_buffer.capacity={text}"))


def test_rows_match_evaluate_and_rerun_skips(tmp_path):
    axes = [parse_grid("global_buffer.capacity=256KiB,16MiB"), parse_grid("seq=1K,4K")]
    cfg = SweepConfig("fusemax", (), "fusemax", BERT)
    r = run_sweep(cfg, axes, tmp_path / "s.parquet")
    assert (r.total, r.evaluated, r.failed) == (4, 4, 0)
    df = read_results(tmp_path / "s.parquet")
    assert list(df["seq"]) == [1024, 4096, 1024, 4096] and df["hash"].is_unique
    arch = load_arch("fusemax", ["global_buffer.capacity=256KiB"])
    want = score(DESIGNS["fusemax"].build(BERT, 4096, arch), arch)
    assert df.loc[1, "latency_s"] == want["latency_s"]
    assert df.loc[1, "energy_pj"] == want["energy_pj"]
    assert df.loc[1, "edp_js"] == pytest.approx(want["energy_pj"] * 1e-12 * want["latency_s"])
    # same pandas read of the directory as a Parquet dataset
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 4
    again = run_sweep(cfg, axes + [], tmp_path / "s.parquet")
    assert (again.skipped, again.evaluated) == (4, 0)
    # a grown grid evaluates only the new points
    grown = [parse_grid("global_buffer.capacity=256KiB,16MiB"), parse_grid("seq=1K,4K,16K")]
    assert run_sweep(cfg, grown, tmp_path / "s.parquet").evaluated == 2
    assert len(read_results(tmp_path / "s.parquet")) == 6


def test_points_that_do_not_fit_keep_their_row(tmp_path):
    axes = [parse_grid("seq=1000,1024")]  # 1000 is not a multiple of the 256-PE side
    r = run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), axes, tmp_path / "e")
    df = read_results(tmp_path / "e")
    assert r.failed == 1 and "multiple of the array side" in df.loc[0, "error"]
    assert df["latency_s"].isna().tolist() == [True, False]


def test_other_sweep_in_the_same_out_is_refused(tmp_path):
    axes = [parse_grid("seq=1K")]
    run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), axes, tmp_path / "o")
    with pytest.raises(ValueError, match="holds another sweep"):
        run_sweep(SweepConfig("fusemax", (), "architecture", BERT), axes, tmp_path / "o")


@pytest.mark.parametrize("setup, words", [
    (lambda d: d.mkdir() or (d / "notes.yaml").write_text("x: 1\n"), "is not a sweep directory"),
    (lambda d: d.write_text("x"), "is not a sweep directory"),
    (lambda d: d.mkdir() or (d / "_sweep.json").write_text("{"), "_sweep.json: not a sweep's"),
    (lambda d: d.mkdir() or (d / "_sweep.json").write_text("[]"), r"\(not a JSON object\)"),
    (lambda d: (d / "_sweep.json").mkdir(parents=True), r"_sweep.json: not a sweep's .*directory"),
])
def test_out_that_is_no_sweep_is_refused_before_writing(tmp_path, setup, words):
    # a directory of other files, a file, a corrupt configuration: nothing is written there
    out = tmp_path / "o"
    setup(out)
    before = sorted(out.rglob("*")) if out.is_dir() else None
    with pytest.raises(ValueError, match=words):
        run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), [parse_grid("seq=1K")], out)
    assert (sorted(out.rglob("*")) if out.is_dir() else None) == before


def test_hidden_files_do_not_make_out_foreign(tmp_path):
    # a kill during the first _sweep.json write leaves only its .tmp-* file: the rerun goes on
    out = tmp_path / "o"
    out.mkdir()
    (out / ".tmp-0123abcd").write_bytes(b"{")
    r = run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), [parse_grid("seq=1K")], out)
    assert r.evaluated == 1 and len(read_results(out)) == 1


def test_a_grid_too_large_to_list_is_refused_before_writing(tmp_path):
    axes = [parse_grid(t) for t in ("global_buffer.capacity=1B..1TiB*2", "dram.bandwidth=1B/s..1TB/s*2",
                                    "seq=1..1M*2", "pe1d.frequency=1Hz..1GHz*2")]
    # 41 x 40 x 21 x 30 x 10 values: 10.3M points
    with pytest.raises(ValueError, match="the grid has 10,332,000 points"):
        run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), axes + [parse_grid("batch=1..512*2")],
                  tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_seq_given_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        run_sweep(SweepConfig("fusemax", (), "fusemax", BERT, 4096), [parse_grid("seq=1K")],
                  tmp_path / "o")


def test_empty_out_is_refused():
    with pytest.raises(ValueError, match="--out is empty"):
        run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), [parse_grid("seq=1K")], "")


def _running(marker: str) -> list[str]:
    """Processes whose command line holds `marker`."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (d / "cmdline").read_bytes().decode(errors="replace"):
                found.append(d.name)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_and_resume_loses_and_repeats_nothing(tmp_path, workers):
    """SIGKILL the sweep once some parts are written; no worker outlives it, and the rerun
    completes the grid exactly."""
    out = tmp_path / "k.parquet"
    args = ["sweep", "--model", "bert", "--grid", "global_buffer.capacity=256KiB..64MiB*2",
            "--grid", "seq=1K..16K*2", "--grid", "dram.bandwidth=200GB/s,400GB/s,800GB/s",
            "--out", str(out), "--workers", str(workers), "--chunk", "3", "--no-progress"]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}
    p = subprocess.Popen([sys.executable, "-m", "studies.cli", *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(out.glob("part-*.parquet"))) < 3 and time.monotonic() < deadline \
            and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()
    if sys.platform.startswith("linux"):
        deadline = time.monotonic() + 10
        while _running(str(out)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(str(out))
    written = len(read_results(out))
    assert 0 < written < 135
    r = CliRunner().invoke(app, args + ["--format", "json"])
    assert r.exit_code == 0, r.output
    df = read_results(out)
    assert len(df) == 135 and df["hash"].is_unique
    assert f'"skipped_done": {written}' in r.output


@pytest.mark.parametrize("setup, words", [
    (lambda d: pd.DataFrame({"x": [1.0]}).to_parquet(d / "part-0.parquet"),
     "part-0.parquet: not a sweep's part (no 'hash' column)"),
    (lambda d: pd.DataFrame({"hash": ["a"]}).to_parquet(d / "part-0.parquet")
     or (d / "_sweep.json").write_text('{"axes": 5}'), "'axes' is not a list of names"),
])
def test_plot_of_a_directory_that_is_no_sweep_is_one_line(tmp_path, setup, words):
    out = tmp_path / "p.parquet"
    out.mkdir()
    setup(out)
    r = CliRunner().invoke(app, ["plot", str(out), "--x", "x", "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output


def test_plot_writes_html_and_names_bad_columns(tmp_path):
    axes = [parse_grid("global_buffer.capacity=256KiB,16MiB"), parse_grid("seq=1K,4K")]
    run_sweep(SweepConfig("fusemax", (), "fusemax", BERT), axes, tmp_path / "p.parquet")
    runner = CliRunner()
    r = runner.invoke(app, ["plot", str(tmp_path / "p.parquet"), "--x", "global_buffer.capacity",
                            "--y", "latency_s", "--color", "seq", "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 0, r.output
    assert "global_buffer.capacity" in (tmp_path / "f.html").read_text()
    bad = runner.invoke(app, ["plot", str(tmp_path / "p.parquet"), "--x", "sq", "--html",
                              str(tmp_path / "g.html")])
    assert bad.exit_code == 2 and "did you mean 'seq'" in bad.output


def test_ctrl_c_stops_cleanly_and_keeps_what_is_written(tmp_path):
    out = tmp_path / "c.parquet"
    args = ["sweep", "--model", "bert", "--grid", "global_buffer.capacity=256KiB..64MiB*2",
            "--grid", "seq=1K..16K*2", "--grid", "dram.bandwidth=200GB/s,400GB/s,800GB/s",
            "--out", str(out), "--workers", "1", "--chunk", "3", "--no-progress"]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}
    p = subprocess.Popen([sys.executable, "-m", "studies.cli", *args], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline \
            and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "interrupted" in stdout and "Traceback" not in stderr
    df = read_results(out)
    assert 0 < len(df) < 135 and df["hash"].is_unique


def _slow_batch(cfg, key, names, batch):
    """A pool batch that takes a minute (its worker's pid written first)."""
    Path(cfg).joinpath(f"{os.getpid()}.pid").touch()
    time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_in_a_pool_ends_its_workers_at_once(tmp_path, monkeypatch):
    # the batches in flight are lost anyway: Ctrl-C must not wait the minute they would take
    import studies.sweep as sweep
    monkeypatch.setattr(sweep, "evaluate_batch", _slow_batch)
    batches = sweep._pool(str(tmp_path), None, (), [[1], [2], [3]], 2, None)

    def ctrl_c(*_):  # once both workers are inside their batch
        if len(list(tmp_path.glob("*.pid"))) == 2:
            raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        with pytest.raises(KeyboardInterrupt):
            next(batches)
        signal.setitimer(signal.ITIMER_REAL, 0)
        stopped = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    pids = [int(p.stem) for p in tmp_path.glob("*.pid")]
    deadline = stopped + 30  # well before a batch's minute
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, pids))


def test_equal_values_in_other_units_are_one_point(tmp_path):
    cfg = SweepConfig("fusemax", (), "fusemax", BERT, 1024)
    run_sweep(cfg, [parse_grid("global_buffer.capacity=1MiB")], tmp_path / "u")
    again = run_sweep(cfg, [parse_grid("global_buffer.capacity=1024KiB")], tmp_path / "u")
    assert (again.skipped, again.evaluated) == (1, 0)


def test_a_search_cut_short_is_not_a_finished_point(tmp_path, monkeypatch):
    # Ctrl-C inside a point's search ends the search early; the sweep must stop there and not
    # record that best-so-far as the point's result (resume then evaluates it again)
    import studies.evaluate as ev
    from mappers.search import SearchResult

    cut = {4096}  # the lengths whose search "is interrupted"

    def fake(w, seq, arch):  # finds the FuseMax mapping
        m = DESIGNS["fusemax"].build(w, seq, arch)
        return SearchResult(m, 0.0, 0.0, 1, 1, 0.0, seq in cut, 1)

    monkeypatch.setattr(ev, "_search_one_pass", fake)
    cfg = SweepConfig("fusemax", (), "search", BERT)
    out = tmp_path / "s"
    r = run_sweep(cfg, [parse_grid("seq=1K,4K")], out, batch=1)
    assert r.interrupted and r.evaluated == 1
    assert list(read_results(out)["seq"]) == [1024]
    cut.clear()
    again = run_sweep(cfg, [parse_grid("seq=1K,4K")], out, batch=1)
    assert (again.skipped, again.evaluated, again.interrupted) == (1, 1, False)
