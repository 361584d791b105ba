"""What each quantity can physically be, in its contract unit.

The codec checks a reading's shape and unit; these ranges say which values the
world can produce at all. A reading outside them is not a flood but a broken
sensor, a wrong register map or a hostile sender, and the centre refuses it
(ingest dead-letters it with the range it broke). They are deliberately wide:
the device profiles' `valid_min`/`valid_max` are the tight, per-model limits a
gateway applies (quality `out_of_range`); these are the limits of nature.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PhysicalRange:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


# Keys are exactly the contract's quantities (tests/ingest checks that), units as in QUANTITY_UNITS.
PHYSICAL_RANGES: dict[str, PhysicalRange] = {
    # m above the gauge datum; Huế's rivers stay within -5..+15, a sensor mounted anywhere within -50..+100.
    "water_level": PhysicalRange(-50.0, 100.0),
    # mm in one reading's interval; the world record for 24 h is 1,825 mm.
    "rain": PhysicalRange(0.0, 2000.0),
    # mm a gauge has counted: it starts at the gauge's own count, which may be anywhere
    # in 2^32 (or 2^64) tips, and only grows: non-negative is all that can be said.
    "rain_total": PhysicalRange(0.0, 1.0e15),
    # mm in one clock hour; the world record is some 305 mm.
    "rain_this_hour": PhysicalRange(0.0, 500.0),
    # mm per tip: gauges are built for 0.1 to 1 mm, some for 0.01.
    "rain_per_tip": PhysicalRange(0.0, 10.0),
    # a tipping bucket's counter: non-negative, 32-bit at most.
    "rain_tips": PhysicalRange(0.0, 4_294_967_295.0),
    # V: the gateway's 12/24 V supply and any solar charger.
    "supply_voltage": PhysicalRange(0.0, 60.0),
    # degC: an electronics enclosure, from a cold night to a sunlit box.
    "temperature": PhysicalRange(-40.0, 125.0),
    "door_open": PhysicalRange(0.0, 1.0),
    "link_up": PhysicalRange(0.0, 1.0),
    "poe_on": PhysicalRange(0.0, 1.0),
    "stream_alive": PhysicalRange(0.0, 1.0),
    "relay_on": PhysicalRange(0.0, 1.0),
    "input_active": PhysicalRange(0.0, 1.0),
    # m from a radar or ultrasonic sensor to the water.
    "distance": PhysicalRange(0.0, 100.0),
    # a 16- or 32-bit state code; what each code means is in the device's profile.
    "device_state": PhysicalRange(0.0, 4_294_967_295.0),
}


def out_of_physical_range(quantity: str, value: float | None) -> PhysicalRange | None:
    """The range `value` breaks, or None if it is possible (or absent, as on a read failure)."""
    limits = PHYSICAL_RANGES.get(quantity)
    if value is None or limits is None or value in limits:
        return None
    return limits
