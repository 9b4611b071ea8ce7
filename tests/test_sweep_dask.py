"""A sweep on a real local Dask cluster gives the rows of the local pool."""

from __future__ import annotations

import pandas as pd
import pytest

from studies.grid import parse_grid
from studies.sweep import SweepConfig, read_results, run_sweep
from studies.workloads import model

distributed = pytest.importorskip("distributed")


def test_dask_cluster_rows_equal_local_pool(tmp_path):
    axes = [parse_grid("global_buffer.capacity=256KiB..4MiB*4"), parse_grid("seq=1K,4K"),
            parse_grid("dram.bandwidth=200GB/s,400GB/s")]
    cfg = SweepConfig("fusemax", (), "fusemax", model("t5"))
    local = run_sweep(cfg, axes, tmp_path / "local", workers=2, batch=3)
    assert local.evaluated == 12
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = run_sweep(cfg, axes, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert (remote.evaluated, remote.failed) == (12, 0)
    a, b = read_results(tmp_path / "local"), read_results(tmp_path / "dask")
    pd.testing.assert_frame_equal(a, b)
    assert a["hash"].is_unique and len(a) == 12
