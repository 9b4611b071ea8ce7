"""energy: the price list (shared/DESIGN.md). Energy = action counts . prices; area for
iso-area comparisons. Every number carries its source (tables, sram, offchip, scaling)."""

from energy.prices import ACCOUNTINGS, PriceList, area_um2, energy_pj, price_list
from energy.scaling import scale
from energy.tables import Price

__all__ = ["ACCOUNTINGS", "Price", "PriceList", "area_um2", "energy_pj", "price_list", "scale"]
