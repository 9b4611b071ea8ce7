"""Human units of architecture specs (`16MiB`, `400GiB/s`, `940MHz`, `17.16pJ`) to SI and back."""

from __future__ import annotations

import math
import re
from decimal import Decimal

SIZE = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
        "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
BANDWIDTH = {f"{unit}/s": scale for unit, scale in SIZE.items()}
FREQUENCY = {"Hz": 1, "kHz": 10**3, "MHz": 10**6, "GHz": 10**9}
ENERGY_PJ = {"fJ": Decimal("0.001"), "pJ": 1, "nJ": 10**3, "uJ": 10**6}
AREA_UM2 = {"um^2": 1, "mm^2": 10**6, "cm^2": 10**8}
LENGTH_NM = {"nm": 1}

_QUANTITY = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(\S+)\s*")


class UnitError(ValueError):
    """A value without the unit its field needs; the message says what was expected and found."""


def _parse(value: object, units: dict[str, int | Decimal], what: str, example: str) -> float:
    """`value` as a number times the scale of its unit, or UnitError naming `what` and `example`."""
    match = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if match is None or match[2] not in units:
        hint = ""
        if match is not None:
            near = [u for u in units if u.lower() == match[2].lower()]
            hint = f" (did you mean {match[1]}{near[0]}?)" if near else ""
        raise UnitError(f"expected {what} like {example}, got '{value}'{hint}")
    number = float(Decimal(match[1]) * units[match[2]])  # exact: 1.4GB/s is 1400000000.0
    if math.isinf(number):
        raise UnitError(f"expected {what} like {example}, got '{value}', too large to represent")
    return number


def parse_size(value: object) -> float:
    """Bytes from `16MiB`, `228KB`, `80GB` (KB..TB are powers of 1000, KiB..TiB of 1024)."""
    return _parse(value, SIZE, "a size", "16MiB")


def parse_bandwidth(value: object) -> float:
    """Bytes per second from `400GiB/s`, `3.35TB/s`, `11.2GB/s`."""
    return _parse(value, BANDWIDTH, "a bandwidth", "400GiB/s")


def parse_frequency(value: object) -> float:
    """Hertz from `940MHz`, `1.83GHz`."""
    return _parse(value, FREQUENCY, "a frequency", "940MHz")


def parse_energy_pj(value: object) -> float:
    """Picojoules from `17.16pJ`, `500fJ`, `1.2nJ`, `3uJ`."""
    return _parse(value, ENERGY_PJ, "an energy", "17.16pJ")


def parse_area_um2(value: object) -> float:
    """Square micrometres from `1545um^2`, `12.21cm^2`, `0.5mm^2`."""
    return _parse(value, AREA_UM2, "an area", "1545um^2")


def parse_technology_nm(value: object) -> float:
    """A process node in nanometres from `45nm`."""
    return _parse(value, LENGTH_NM, "a process node", "45nm")


def parse_count(value: object) -> int:
    """A plain integer count (`132`); booleans, fractions and unit-bearing text are refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UnitError(f"expected an integer like 132, got '{value}'")


def parse_fraction(value: object) -> float:
    """A share in (0, 1] (`0.84`), such as the part of a unit's peak it sustains."""
    if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1):
        raise UnitError(f"expected a share in (0, 1] like 0.84, got '{value}'")
    return float(value)


def parse_number(value: object) -> float:
    """A plain number (`7`, `0.5`) for dimensionless fields such as cycles per op."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise UnitError(f"expected a number like 7, got '{value}'")


def _mantissa(value: float, scale: int | Decimal) -> str:
    """The fewest significant digits of `value / scale` that parse back to exactly `value`."""
    for digits in range(1, 18):
        text = format(Decimal(f"{value / float(scale):.{digits}g}"), "f")  # no exponent
        if float(Decimal(text) * scale) == value:
            return text
    return format(Decimal(value) / Decimal(scale), "f")


def _format(value: float, units: dict[str, int | Decimal]) -> str:
    """The shortest exact `NUMBER UNIT` for `value`, among units that keep NUMBER >= 1."""
    if math.isinf(value):
        return "unbounded"
    if value == 0:
        return f"0{next(iter(units))}"
    fitting = [u for u in units if units[u] <= abs(value)] or [min(units, key=units.get)]
    texts = [_mantissa(value, units[u]) + u for u in fitting]
    return min(reversed(texts), key=len)  # a tie goes to the larger unit: 1.83GHz, not 1830MHz


def format_size(nbytes: float) -> str:
    """`16MiB` for 16 * 2**20, `80GB` for 80e9: whichever prefix family gives the shorter text."""
    return _format(nbytes, SIZE)


def format_bandwidth(bytes_per_s: float) -> str:
    """`400GiB/s`, `3.35TB/s`."""
    return _format(bytes_per_s, BANDWIDTH)


def format_frequency(hz: float) -> str:
    """`940MHz`, `1.83GHz`."""
    return _format(hz, FREQUENCY)


def format_technology(nm: float) -> str:
    """`45nm`."""
    return _format(nm, LENGTH_NM)
