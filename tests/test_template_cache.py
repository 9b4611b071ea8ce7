"""Template reuse across architectures of one topology checks each one's own capacities."""

from __future__ import annotations

import pytest

from archsim.estimator import ArchArrays, estimate
from archsim.spec import load_arch
from mappers import compile as comp
from mappers.mapping import MappingError
from studies.evaluate import DESIGNS
from studies.workloads import model


def test_reused_template_checks_the_new_capacity_and_scores_alike():
    big = load_arch("fusemax")
    small = load_arch("fusemax", ["global_buffer.capacity=256KiB"])
    fast = load_arch("fusemax", ["dram.bandwidth=1TB/s"])
    m = DESIGNS["fusemax"].build(model("bert"), 16384, big)  # P1 sized for 16 MiB
    comp.compile_mapping(m, big, ArchArrays.from_arch(big))
    with pytest.raises(MappingError, match="capacity"):
        comp.compile_mapping(m, small, ArchArrays.from_arch(small))
    arrays = ArchArrays.from_arch(fast)
    cached = estimate(arrays, comp.compile_mapping(m, fast, arrays)).latency_s[0]
    comp._TEMPLATES.clear()
    fresh = estimate(arrays, comp.compile_mapping(m, fast, arrays)).latency_s[0]
    assert cached == fresh
