"""Human units in specs: parsing to SI, formatting back, and clear rejections."""

from __future__ import annotations

import pytest

from archsim.units import (UnitError, format_bandwidth, format_frequency, format_size,
                           format_technology, parse_area_um2, parse_bandwidth, parse_count,
                           parse_energy_pj, parse_frequency, parse_number, parse_size,
                           parse_technology_nm)


@pytest.mark.parametrize("text, value", [
    ("16MiB", 16 * 2**20), ("228KB", 228e3), ("80GB", 80e9), ("1B", 1), ("2TiB", 2 * 2**40),
    ("1.5 MiB", 1.5 * 2**20), ("512KiB", 512 * 1024),
])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text, value", [
    ("11.2GB/s", 11.2e9), ("1.4 GB/s", 1.4e9), ("400GiB/s", 400 * 2**30), ("3.35TB/s", 3.35e12),
    ("2039GB/s", 2039e9),
])
def test_bandwidths(text, value):
    assert parse_bandwidth(text) == value


def test_decimal_values_are_exact():
    assert 8 * parse_bandwidth("1.4GB/s") == parse_bandwidth("11.2GB/s") == 11_200_000_000


def test_frequency_energy_area_node():
    assert parse_frequency("940MHz") == 940e6 and parse_frequency("1.83GHz") == 1.83e9
    assert parse_frequency("2kHz") == 2000 and parse_frequency("5Hz") == 5
    assert parse_energy_pj("17.16pJ") == 17.16 and parse_energy_pj("500fJ") == 0.5
    assert parse_energy_pj("1.2nJ") == 1200 and parse_energy_pj("3uJ") == 3e6
    assert parse_area_um2("1545um^2") == 1545 and parse_area_um2("12.21cm^2") == 12.21e8
    assert parse_area_um2("0.5mm^2") == 5e5
    assert parse_technology_nm("45nm") == 45


def test_plain_numbers():
    assert parse_count(132) == 132 and parse_number(7) == 7.0 and parse_number(0.5) == 0.5
    for bad in (2.5, "132", True):
        with pytest.raises(UnitError, match="expected an integer like 132"):
            parse_count(bad)
    with pytest.raises(UnitError, match="expected a number like 7, got 'fast'"):
        parse_number("fast")


@pytest.mark.parametrize("parse, value, message", [
    (parse_size, "16MHz", "expected a size like 16MiB, got '16MHz'"),
    # past a float: it became inf, and the spec then read as "no capacity" (unbounded)
    (parse_size, "1e400B", "got '1e400B', too large to represent"),
    (parse_bandwidth, "1e400GB/s", "got '1e400GB/s', too large to represent"),
    (parse_size, 1024, "expected a size like 16MiB, got '1024'"),
    (parse_size, "16 Mb", "expected a size like 16MiB, got '16 Mb'"),
    (parse_size, "16mib", "got '16mib' (did you mean 16MiB?)"),
    (parse_size, "MiB", "expected a size like 16MiB, got 'MiB'"),
    (parse_bandwidth, "400GiB", "expected a bandwidth like 400GiB/s, got '400GiB'"),
    (parse_frequency, "940mhz", "(did you mean 940MHz?)"),
    (parse_frequency, "1.8GB", "expected a frequency like 940MHz, got '1.8GB'"),
    (parse_energy_pj, "17.16", "expected an energy like 17.16pJ, got '17.16'"),
    (parse_area_um2, "1545um2", "expected an area like 1545um^2, got '1545um2'"),
])
def test_rejections_say_what_was_expected(parse, value, message):
    with pytest.raises(UnitError) as info:
        parse(value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value, text", [
    (16 * 2**20, "16MiB"), (80e9, "80GB"), (228e3, "228KB"), (1024, "1KiB"), (1000, "1KB"),
    (1.5 * 2**20, "1.5MiB"), (0, "0B"), (float("inf"), "unbounded"),
])
def test_format_size(value, text):
    assert format_size(value) == text


def test_format_bandwidth_frequency_node():
    assert format_bandwidth(400 * 2**30) == "400GiB/s"
    assert format_bandwidth(3.35e12) == "3.35TB/s"
    assert format_bandwidth(11.2e9) == "11.2GB/s"
    assert format_frequency(940e6) == "940MHz" and format_frequency(1.83e9) == "1.83GHz"
    assert format_technology(45.0) == "45nm"


@pytest.mark.parametrize("value", [16 * 2**20, 7.2192e12, 1.4e9, 2039e9, 123456789, 0.5, 3 * 2**40])
def test_round_trips(value):
    assert parse_size(format_size(value)) == value
    assert parse_bandwidth(format_bandwidth(value)) == value
    assert parse_frequency(format_frequency(value)) == value
