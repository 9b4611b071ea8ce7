"""Architecture specs: presets match their references, overrides, and FILE:LINE: FIELD errors."""

from __future__ import annotations

import math

import pytest
import yaml

from archsim.spec import (OPS, Architecture, Op, SpecError, load_arch, parse_spec,
                          preset_names, preset_path)

TINY = """\
attnsim_spec: 1
name: tiny
components:
  dram:
    kind: memory
    class: dram
    bandwidth: 100GB/s
  buf:
    kind: memory
    parent: dram
    capacity: 1MiB
  pe:
    kind: compute
    parent: buf
    shape: [4, 4]
    frequency: 1GHz
    ops: {mac: 1, exp: {cycles: 7, actions: {mac: 6, add: 1}}}
"""


def problems(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """The problems of spec `text` (read as spec.yaml), which must fail to load."""
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml", overrides)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def peak_flops(arch: Architecture, unit: str) -> float:
    """2 x lanes x clock: dense FLOP/s of a MAC unit."""
    c = arch.computes[unit]
    return 2 * c.lanes * c.frequency_hz / c.ops["mac"].cycles


# ----------------------------------------------------------------------------- presets
def test_all_required_presets_exist():
    assert set(preset_names()) == {"fusemax", "flat", "unfused", "fusemax_edge", "flat_edge",
                                   "unfused_edge", "a100", "h100", "a6000", "b200",
                                   "instinfer_csd"}


@pytest.mark.parametrize("name", preset_names())
def test_preset_loads_and_round_trips(name):
    arch = load_arch(name)
    assert arch.name == name and arch.source_file == f"{name}.yaml"
    assert arch.memories and arch.computes
    again = parse_spec(arch.to_yaml(), "again.yaml")
    assert again == Architecture(**{**arch.__dict__, "source_file": "again.yaml"})
    assert "# " in preset_path(name).read_text()  # values carry their sources


def test_fusemax_matches_the_paper():
    a = load_arch("fusemax")
    assert a.memory_levels() == ("dram", "global_buffer") and a.units() == ("pe1d", "pe2d")
    assert a.memories["global_buffer"].capacity_bytes == 16 * 2**20
    assert a.memories["global_buffer"].banks == 32
    assert a.memories["dram"].bandwidth_bytes_per_s == 400 * 2**30
    assert math.isinf(a.memories["dram"].capacity_bytes)
    pe2d, pe1d = a.computes["pe2d"], a.computes["pe1d"]
    assert pe2d.lanes == 65536 and pe1d.lanes == 256
    assert pe2d.frequency_hz == pe1d.frequency_hz == 940e6
    assert pe2d.register_file_entries == 12 and pe1d.register_file_entries == 32
    assert pe2d.ops["exp"] == Op(7, {"mac": 6, "add": 1}) and "exp" not in pe2d.units
    assert set(pe1d.ops) == {"mac", "mul", "add", "max", "exp", "div"} and "div" in pe1d.units
    assert pe1d.ops["mul"] == Op(1, {"mac": 1})  # a product issued to the MAC (README: SPD)
    assert a.word_bits == 16 and a.technology_nm == 45 and a.substrate == "spatial"


def test_flat_unfused_and_edge():
    flat, unfused = load_arch("flat"), load_arch("unfused")
    for a in (flat, unfused):
        assert a.memories["global_buffer"].capacity_bytes == 32 * 2**20
        assert a.computes["pe2d"].register_file_entries == 4
        assert set(a.computes["pe2d"].ops) == {"mac"}
        assert a.computes["pe1d"].ops["exp"] == Op(1, {"exp": 1, "add": 1})  # exp(x - y)
    for name in ("fusemax_edge", "flat_edge", "unfused_edge"):
        a = load_arch(name)
        assert a.memories["global_buffer"].capacity_bytes == 512 * 2**10
        assert a.memories["dram"].bandwidth_bytes_per_s == 50 * 2**30
        assert a.computes["pe2d"].shape == (32, 32) and a.computes["pe1d"].lanes == 32


@pytest.mark.parametrize("name, tflops", [("a100", 312), ("h100", 989), ("a6000", 154.8),
                                          ("b200", 2250)])
def test_gpu_tensor_peak_matches_reference(name, tflops):
    a = load_arch(name)
    assert peak_flops(a, "tensor_core") == pytest.approx(tflops * 1e12, rel=0.01)
    assert a.memory_levels() == ("hbm", "l2", "smem", "registers")
    assert a.computes["sfu"].shape == (16,) and set(a.computes["sfu"].ops) == {"exp"}
    sms = a.computes["tensor_core"].count
    assert a.memories["smem"].count == a.memories["registers"].count == sms
    # CUDA guide: 64K 32-bit registers per SM (NVIDIA's "256 KB" is binary)
    assert a.memories["registers"].capacity_bytes == 65536 * 4


def test_gpu_details():
    h100, a100 = load_arch("h100"), load_arch("a100")
    assert h100.memories["hbm"].bandwidth_bytes_per_s == 3.35e12
    # CUDA guide, 9.0: 228 KB of shared memory per SM = 233,472 B (deviceQuery), binary KB
    assert h100.memories["smem"].capacity_bytes == 233472 and h100.computes["sfu"].count == 132
    assert a100.memories["smem"].capacity_bytes == 167936  # 8.0: 164 KB = 167,936 B
    assert a100.memories["l2"].capacity_bytes == 40 * 2**20  # deviceQuery: 41,943,040 B
    sfu = h100.computes["sfu"]  # gpu.md: exp ~3.9 TFLOP/s
    assert sfu.lanes * sfu.frequency_hz == pytest.approx(3.9e12, rel=0.02)
    assert peak_flops(a100, "cuda_core") == pytest.approx(19.5e12, rel=0.01)
    assert load_arch("b200").memories["hbm"].capacity_bytes == 192e9
    # CUDA compute capabilities: Ampere 8.0 / 8.6, Hopper 9.0, Blackwell 10.0
    assert [load_arch(n).compute_capability for n in ("a100", "a6000", "h100", "b200")] == [
        8.0, 8.6, 9.0, 10.0]
    assert load_arch("fusemax").compute_capability is None
    assert h100.parent_chain("tensor_core") == ("tensor_core", "registers", "smem", "l2", "hbm")
    with pytest.raises(KeyError, match="no memory or compute unit named 'nvlink'"):
        h100.parent_chain("nvlink")


def test_instinfer_drive_host_and_gpu():
    a = load_arch("instinfer_csd")
    nand = a.memories["nand"]
    assert nand.count * nand.bandwidth_bytes_per_s == 11.2e9 and nand.count == 8
    assert a.links["pcie_x4"].between == ("drive_dram", "host_dram")
    assert a.links["pcie_x4"].bandwidth_bytes_per_s == 7e9
    assert a.links["pcie_x16"].bandwidth_bytes_per_s == 32e9
    assert peak_flops(a, "engine") == pytest.approx(650e9)
    assert a.memories["gpu_hbm"].capacity_bytes == 48e9
    assert a.memories["host_dram"].capacity_bytes == 96e9
    assert a.roots() == ("gpu_hbm", "host_dram", "nand", "ssd", "swap")
    assert a.memory_levels() == ("gpu_hbm", "host_dram", "nand", "ssd", "swap", "drive_dram", "l2",
                                 "page_cache", "smem", "registers")
    assert a.units() == ("cpu", "engine", "cuda_core", "sfu", "tensor_core")
    # the host CPU at FlexGen's fitted CPU-attention rate, 12.3 GFLOP/s (an effective rate)
    assert peak_flops(a, "cpu") == pytest.approx(12.3e9, rel=1e-3)
    assert a.link_names() == ("pcie_x16", "pcie_x4", "ssd_pcie_x4", "swap_pcie_x4")
    assert a.substrate == "storage"
    # the conventional SSD (Samsung 980 Pro): 7,000 MB/s sequential read, PCIe 4.0 x4
    assert a.memories["ssd"].bandwidth_bytes_per_s == 7e9
    assert a.links["ssd_pcie_x4"].between == ("ssd", "page_cache")
    # FlexGen's file path: 2.0 GiB/s through it (CHEOPS'25), each byte written in and read out
    assert a.memories["page_cache"].bandwidth_bytes_per_s == pytest.approx(2 * 2 * 1024 ** 3,
                                                                          rel=1e-3)
    assert a.links["swap_pcie_x4"].between == ("swap", "host_dram")


def reversed_components(text: str) -> str:
    """Spec `text` with its components written in the reverse order."""
    data = yaml.safe_load(text)
    data["components"] = dict(reversed(data["components"].items()))
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("text", [TINY, preset_path("instinfer_csd").read_text()])
def test_order_does_not_depend_on_yaml_key_order(text):
    a, b = parse_spec(text), parse_spec(reversed_components(text))
    assert list(yaml.safe_load(reversed_components(text))["components"])[0] == list(
        yaml.safe_load(text)["components"])[-1]
    assert b.memory_levels() == a.memory_levels() and b.units() == a.units()
    assert b.link_names() == a.link_names() and b == a


# ----------------------------------------------------------------------------- overrides
def test_overrides_change_values():
    a = load_arch("fusemax", ["global_buffer.capacity=8MiB", "pe2d.shape=[128,128]",
                              "pe2d.ops.exp=5", "word_bits=8"])
    assert a.memories["global_buffer"].capacity_bytes == 8 * 2**20
    assert a.computes["pe2d"].shape == (128, 128) and a.computes["pe2d"].lanes == 16384
    assert a.computes["pe2d"].ops["exp"] == Op(5, {"exp": 1})
    assert a.word_bits == 8
    assert load_arch("fusemax").memories["global_buffer"].capacity_bytes == 16 * 2**20


def test_overrides_add_fields_and_apply_to_loaded_architectures():
    a = load_arch("fusemax", ["global_buffer.bandwidth=2TB/s", "components.pe1d.count=2",
                              "pe2d.ops.exp={cycles: 9, actions: {mac: 8, add: 1}}"])
    assert a.memories["global_buffer"].bandwidth_bytes_per_s == 2e12
    assert a.computes["pe1d"].lanes == 512
    assert a.computes["pe2d"].ops["exp"] == Op(9, {"mac": 8, "add": 1})
    b = load_arch("h100").with_overrides(["smem.capacity=100KB", "word_bits=8"])
    assert b.memories["smem"].capacity_bytes == 100e3 and b.source_file == "h100.yaml"
    assert b.memories["hbm"].width_bits == 8  # the default width follows word_bits


@pytest.mark.parametrize("item, message", [
    ("global_bufer.capacity=8MiB",
     "--set global_bufer.capacity: global_bufer.capacity: no such path in the spec "
     "(closest: 'global_buffer.capacity')"),
    ("pe2d.opps.exp=5", "--set pe2d.opps.exp: pe2d.opps.exp: no such path in the spec "
                        "(closest: 'pe2d.ops.exp')"),
    ("newunit=3", "--set newunit: newunit: no such path in the spec"),
    ("global_buffer.capacity=8MHz",
     "--set global_buffer.capacity: global_buffer.capacity: expected a size like 16MiB, "
     "got '8MHz'"),
    ("global_buffer.capacty=8MiB",
     "--set global_buffer.capacty: global_buffer.capacty: unknown field of a memory "
     "(did you mean 'capacity'?)"),
    ("pe2d.shape", "--set pe2d.shape: pe2d.shape: expected PATH=VALUE"),
    ("pe2d.shape=", "--set pe2d.shape: pe2d.shape: no value after '='"),
    ("pe2d.shape=[1", "--set pe2d.shape: pe2d.shape: bad value '[1'"),
])
def test_override_errors(item, message):
    found = problems(preset_path("fusemax").read_text(), (item,))
    assert len(found) == 1 and found[0].startswith(message), found


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("old, new, message", [
    ("    frequency: 1GHz\n", "",
     "spec.yaml:12: pe.frequency: missing (required for a compute unit)"),
    ("    capacity: 1MiB\n", "", "spec.yaml:8: buf.capacity: missing (required for a memory)"),
    ("    bandwidth: 100GB/s\n", "",
     "spec.yaml:4: dram.bandwidth: missing (required for a memory)"),
    ("name: tiny\n", "", "spec.yaml:1: name: missing (required for a spec)"),
    ("capacity: 1MiB", "capacty: 1MiB",
     "spec.yaml:11: buf.capacty: unknown field of a memory (did you mean 'capacity'?)"),
    ("name: tiny", "name: tiny\nfrobnicate: 2",
     "spec.yaml:3: frobnicate: unknown field of a spec (fields: attnsim_spec, name"),
    ("capacity: 1MiB", "capacity: 1MHz",
     "spec.yaml:11: buf.capacity: expected a size like 16MiB, got '1MHz'"),
    ("frequency: 1GHz", "frequency: 1GB/s",
     "spec.yaml:16: pe.frequency: expected a frequency like 940MHz, got '1GB/s'"),
    ("capacity: 1MiB", "capacity: 0MiB", "spec.yaml:11: buf.capacity: must be > 0, got '0MiB'"),
    ("capacity: 1MiB", "capacity: -1MiB", "spec.yaml:11: buf.capacity: must be > 0, got '-1MiB'"),
    ("shape: [4, 4]", "shape: [4, 0]", "spec.yaml:15: pe.shape[1]: must be > 0, got '0'"),
    ("shape: [4, 4]", "shape: [4, 2.5]",
     "spec.yaml:15: pe.shape[1]: expected an integer like 132, got '2.5'"),
    ("shape: [4, 4]", "shape: [4, 4]\n    count: -2", "spec.yaml:16: pe.count: must be > 0"),
    ("shape: [4, 4]", "shape: 4x4", "spec.yaml:15: pe.shape: expected a list of integers"),
    ("parent: buf", "parent: bufr",
     "spec.yaml:14: pe.parent: unknown component 'bufr' (did you mean 'buf'?)"),
    ("parent: buf", "parent: pe", "spec.yaml:14: pe.parent: 'pe' is a compute unit, not a memory"),
    ("class: dram", "class: dramm", "spec.yaml:6: dram.class: unknown class 'dramm' "
                                    "(did you mean 'dram'?)"),
    ("ops: {mac: 1,", "ops: {sqrt: 1, mac: 1,",
     "spec.yaml:17: pe.ops.sqrt: unknown op (ops: mac, add, mul, max, exp, div)"),
    ("actions: {mac: 6", "actions: {macc: 6",
     "spec.yaml:17: pe.ops.exp.actions.macc: unknown action (did you mean 'mac'?)"),
    ("{mac: 1,", "{mac: 0,", "spec.yaml:17: pe.ops.mac: must be > 0, got '0'"),
    ("kind: compute", "kind: computer",
     "spec.yaml:13: pe.kind: unknown kind 'computer' (did you mean 'compute'?)"),
    ("attnsim_spec: 1\n", "", "spec.yaml:1: attnsim_spec: missing: the first line of a spec "
                              "says its format version, attnsim_spec: 1 (supported: 1)"),
    ("  buf:", "  dram:", "spec.yaml:8: dram: duplicate key"),
    ("name: tiny", "name: tiny\ntechnology: 45", "spec.yaml:3: technology: expected a process "
                                                  "node like 45nm, got '45'"),
    ("name: tiny", "name: tiny\nsubstrate: fpga", "spec.yaml:3: substrate: unknown substrate "
                                                  "'fpga' (substrates: spatial, gpu, storage)"),
    ("name: tiny", "name: tiny\ncompute_capability: sm90",
     "spec.yaml:3: compute_capability: expected a number like 7, got 'sm90'"),
    ("  buf:", "  my buf:", "spec.yaml:8: my buf: a component name is letters, digits and _"),
    ("shape: [4, 4]", "shape: [4, 4]\n    attainable: 1.2",
     "spec.yaml:16: pe.attainable: expected a share in (0, 1] like 0.84, got '1.2'"),
    ("shape: [4, 4]", "shape: [4, 4]\n    attainable: 84%",
     "spec.yaml:16: pe.attainable: expected a share in (0, 1] like 0.84, got '84%'"),
    ("shape: [4, 4]", "shape: [4, 4]\n    attainable: 0",
     "spec.yaml:16: pe.attainable: expected a share in (0, 1] like 0.84, got '0'"),
])
def test_each_error_names_file_line_and_field(old, new, message):
    assert old in TINY
    found = problems(TINY.replace(old, new, 1))
    assert any(p.startswith(message) for p in found), found


def test_parent_cycle_and_memory_that_feeds_nothing():
    text = TINY + """\
  spare:
    kind: memory
    parent: dram
    capacity: 1MiB
  loop_a: {kind: memory, parent: loop_b, capacity: 1MiB}
  loop_b: {kind: memory, parent: loop_a, capacity: 1MiB}
  selfish: {kind: memory, parent: selfish, capacity: 1MiB}
"""
    assert problems(text) == [
        "spec.yaml:18: spare: feeds nothing: no memory or compute unit has it as parent and no "
        "link joins it",
        "spec.yaml:22: loop_a.parent: parent cycle loop_a -> loop_b -> loop_a",
        "spec.yaml:24: selfish.parent: parent cycle selfish -> selfish",
    ]


def test_links_join_two_memories():
    host = "  host: {kind: memory, class: ddr4, bandwidth: 100GB/s}\n"
    ok = parse_spec(TINY + host + "  pcie: {kind: link, between: [dram, host], bandwidth: 7GB/s}\n")
    assert ok.links["pcie"].between == ("dram", "host") and ok.links["pcie"].cls == "pcie4"
    assert "spec.yaml:18: host: feeds nothing" in problems(TINY + host)[0]
    for between, message in [
        ("[dram, hots]", "spec.yaml:19: pcie.between: unknown component 'hots' (did you mean "
                         "'host'?)"),
        ("[dram, pe]", "spec.yaml:19: pcie.between: 'pe' is a compute unit, not a memory"),
        ("[dram, dram]", "spec.yaml:19: pcie.between: a link joins two different memories"),
        ("[dram]", "spec.yaml:19: pcie.between: expected two memory names"),
    ]:
        link = f"  pcie: {{kind: link, between: {between}, bandwidth: 7GB/s}}\n"
        assert message in problems(TINY + host + link)[0]
    link = "  pcie: {kind: link, between: [dram, host], bandwidth: 7GB/s, class: pcie9}\n"
    assert "pcie.class: unknown class 'pcie9'" in problems(TINY + host + link)[0]


def test_all_problems_are_collected_in_line_order():
    text = (TINY.replace("class: dram", "class: dramm").replace("1MiB", "1MHz")
            .replace("frequency: 1GHz", "frequncy: 1GHz"))
    found = problems(text, ("pe.shape=[0]",))
    assert [p.split(":")[1] for p in found[:-1]] == ["6", "11", "12", "16"]
    assert found[-1] == "--set pe.shape: pe.shape[0]: must be > 0, got '0'"


def test_unsupported_version_is_the_only_problem():
    assert problems(TINY.replace("attnsim_spec: 1", "attnsim_spec: 2") + "  bad: 1\n") == [
        "spec.yaml:1: attnsim_spec: version '2' is not supported (supported: 1)"]
    assert "version 'true' is not supported" in problems("attnsim_spec: true\n")[0].lower()


@pytest.mark.parametrize("text, message", [
    ("attnsim_spec: 1\nname: [x\n", "spec.yaml:3: invalid YAML: expected ',' or ']'"),
    ("a: b: c\n", "spec.yaml:1: invalid YAML: mapping values are not allowed here"),
    ("", "spec.yaml:1: spec: the file is empty"),
    ("- 1\n- 2\n", "spec.yaml:1: spec: expected a mapping of fields, got a list"),
    ("attnsim_spec: 1\nname: x\ncomponents: {}\n",
     "spec.yaml:3: components: expected a mapping of named components"),
    ("attnsim_spec: 1\nname: x\ncomponents: {a: !!python/object/apply:os.system [echo]}\n",
     "spec.yaml:3: a: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not "
     "allowed"),
    ("attnsim_spec: 1\nname: !!python/name:os.system x\ncomponents: {}\n",
     "spec.yaml:2: name: could not determine a constructor"),
])
def test_malformed_files(text, message):
    found = problems(text)
    assert found[0].startswith(message), found


def test_load_arch_by_path_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(TINY.replace("1MiB", "2MiB"))
    assert load_arch("mine.yaml").memories["buf"].capacity_bytes == 2 * 2**20
    assert load_arch(tmp_path / "mine.yaml").source_file == str(tmp_path / "mine.yaml")
    (tmp_path / "bad.yaml").write_text(TINY.replace("1MiB", "1MHz"))
    with pytest.raises(SpecError) as info:
        load_arch("bad.yaml")
    assert info.value.problems == [
        "bad.yaml:11: buf.capacity: expected a size like 16MiB, got '1MHz'"]
    with pytest.raises(SpecError, match="^nope.yaml: no such file$"):
        load_arch("nope.yaml")
    with pytest.raises(SpecError, match="no preset architecture or file named 'fusmax' "
                                        r"\(did you mean 'fusemax'\?\)"):
        load_arch("fusmax")


def test_ops_are_the_estimator_columns():
    assert OPS == ("mac", "add", "mul", "max", "exp", "div")
    a = parse_spec(TINY)
    assert a.computes["pe"].ops == {"mac": Op(1, {"mac": 1}), "exp": Op(7, {"mac": 6, "add": 1})}
    assert a.memories["buf"].width_bits == 16
    assert math.isinf(a.memories["buf"].bandwidth_bytes_per_s)


def test_attainable_round_trips_and_defaults_to_the_peak():
    arch = parse_spec(TINY.replace("shape: [4, 4]", "shape: [4, 4]\n    attainable: 0.75"),
                      "spec.yaml")
    assert arch.computes["pe"].attainable_lanes == 12
    assert arch.computes["pe"].to_data()["attainable"] == 0.75
    plain = parse_spec(TINY, "spec.yaml").computes["pe"]
    assert plain.attainable == 1.0 and "attainable" not in plain.to_data()


@pytest.mark.parametrize("text, want", [
    # a recursive alias, and the exponential "billion laughs" expansion: refused at the alias
    ("a: &a [*a]\n", "spec.yaml:1: YAML alias *a: aliases are not supported in a spec"),
    ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "spec.yaml:2: YAML alias *a"),
    # nesting that would exhaust the composer's recursion
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "spec.yaml:1: nested more than 64 levels deep"),
])
def test_aliases_and_deep_nesting_are_one_line_problems(text, want):
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(want), found


def test_an_alias_in_a_set_value_is_refused():
    found = problems(TINY, ("pe.shape=&a [*a]",))
    assert found == ["--set pe.shape: pe.shape: YAML alias *a: aliases are not supported in a "
                     "spec; write the value out"]
