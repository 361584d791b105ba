"""Modbus RTU: frame codec truth tables, and real pymodbus RTU servers on socat pty pairs."""

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.replay_data import Series
from devstack.serial_line import PtyPair, RtuStations, TracePacket
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import make_pollers
from edge_agent.bus import BusDevice, SerialBus
from edge_agent.config import GatewayConfig
from edge_agent.decode import decode_all_orders
from edge_agent.rtu import (
    CrcMismatch,
    ExceptionResponse,
    SerialLine,
    ShortFrame,
    UnexpectedFrame,
    crc16,
    decode_response,
    decode_write_response,
    encode_read,
    encode_response,
    encode_write,
    wire_time_s,
    with_crc,
    write_echo,
)
from hardware_specs import ByteOrder, load_profiles
from wire_contract import Quality

PROFILES = load_profiles()


def test_request_frame_matches_the_spec_example() -> None:
    # Modbus over serial line, read holding registers of unit 1 from 0, count 2: CRC 0x0BC4.
    assert encode_read(1, 3, 0, 2) == bytes.fromhex("010300000002c40b")
    assert crc16(bytes.fromhex("010300000002c40b")) == 0


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (bytes.fromhex("0103040001000200") + b"\x00", CrcMismatch),  # right length, wrong CRC
        (encode_response(1, 3, [1, 2])[:-3], ShortFrame),  # truncated
        (encode_response(2, 3, [1, 2]), UnexpectedFrame),  # another unit answered
        (bytes.fromhex("018302") + crc16(bytes.fromhex("018302")).to_bytes(2, "little"), ExceptionResponse),
    ],
)
def test_broken_responses_are_refused(frame: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_response(frame, 1, 3, 2)


@given(st.integers(1, 247), st.sampled_from([3, 4]), st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125))
def test_responses_round_trip(unit: int, function: int, words: list[int]) -> None:
    assert decode_response(encode_response(unit, function, words), unit, function, len(words)) == words


def test_wire_time_of_one_read() -> None:
    # 8-byte request + 9-byte response at 9600 8N1: 17 chars of 1.04 ms and two 3.65 ms silences.
    assert wire_time_s(8, 9, 9600, 10 / 9600) == pytest.approx(17 * 10 / 9600 + 2 * 3.5 * 10 / 9600)


def _flat(value: float) -> Series:
    return Series("test", (0.0,), (value,))


def _gateway(port: str, devices: list[dict[str, object]], **extra: object) -> GatewayConfig:
    for device in devices:
        device.setdefault("transport", {"kind": "serial", "port": port})
        device.setdefault("timeout_ms", 100)
        device.setdefault("retries", 1)
        device.setdefault("poll_s", 1)
    return GatewayConfig.model_validate({"gateway_id": "gw-rtu", "devices": devices, **extra})


LEVEL = {"name": "level", "profile": "river_level_radar", "station": "le_thuy", "unit_id": 1,
         "sensors": {"level": "le_thuy.level", "air_gap": "le_thuy.air_gap"}}  # fmt: skip
RAIN = {"name": "rain", "profile": "rain_gauge_tipping", "station": "le_thuy", "unit_id": 2,
        "sensors": {"rain_hour": "le_thuy.rain_hour"}}  # fmt: skip
DEAD = {"name": "dead", "profile": "river_level_radar", "station": "dead", "unit_id": 3,
        "sensors": {"level": "dead.level"}}  # fmt: skip


async def _on_bus(
    tmp_path: Path, devices: list[dict[str, object]], polls: int, trace: TracePacket | None = None, level: float = 4.88
) -> tuple[list[list[list[tuple[object, Quality]]]], list[SerialBus]]:
    with PtyPair(tmp_path) as pair:
        stations = [
            StationSimulator(PROFILES["river_level_radar"], _flat(level), ReplayClock(0, 1), 0, unit_id=1),
            StationSimulator(PROFILES["rain_gauge_tipping"], _flat(12.5), ReplayClock(0, 1), 0, unit_id=2),
        ]
        server = await RtuStations(stations, pair.device_end, baud=19200, trace_packet=trace).start()
        pollers, buses = make_pollers(_gateway(pair.master_end, [dict(d) for d in devices]), PROFILES)
        rounds = []
        try:
            for _ in range(polls):
                results = await asyncio.gather(*(p.poll() for p in pollers))
                rounds.append([[(r.value, r.quality) for r in readings] for readings in results])
        finally:
            for bus in buses:
                await bus.close()
            await server.stop()
        return rounds, buses


def test_devices_on_one_bus_are_read_over_a_real_serial_line(tmp_path: Path) -> None:
    rounds, _ = asyncio.run(_on_bus(tmp_path, [LEVEL, RAIN], polls=3))
    assert rounds[-1] == [[(4.88, Quality.good), (7.12, Quality.good)], [(12.5, Quality.good)]]


def test_a_dead_device_is_quarantined_and_does_not_starve_the_bus(tmp_path: Path) -> None:
    rounds, buses = asyncio.run(_on_bus(tmp_path, [DEAD, LEVEL, RAIN], polls=8))
    health = buses[0].health
    assert all(r[0] == [(None, Quality.read_failure)] for r in rounds)
    assert all(r[1][0] == (4.88, Quality.good) and r[2] == [(12.5, Quality.good)] for r in rounds)
    # 3 failed polls of 2 tries each, then quarantined: the next 5 polls never touch the wire.
    assert health["dead"].requests == 6 and health["dead"].quarantines == 1 and health["dead"].errors == 3
    assert health["level"].errors == health["rain"].errors == 0


def test_a_geolux_lx80_is_read_by_its_published_register_map(tmp_path: Path) -> None:
    """The profile written from the vendor's manual, 8E1, over a real serial line."""
    registers = ("distance", "level", "level_average", "sensor_height", "electronics_temp", "rs485_framing")
    device = {"name": "lx80", "profile": "geolux_lx80", "station": "kim_long", "unit_id": 7,
              "sensors": {name: f"kim_long.{name}" for name in registers}}  # fmt: skip

    async def scenario() -> list[tuple[str, object, Quality]]:
        with PtyPair(tmp_path) as pair:
            station = StationSimulator(PROFILES["geolux_lx80"], _flat(2.37), ReplayClock(0, 1), 0, unit_id=7)
            server = await RtuStations([station], pair.device_end, baud=9600).start()
            config = _gateway(pair.master_end, [device])
            (poller,), buses = make_pollers(config, PROFILES)
            try:
                return [(r.sensor, r.value, r.quality) for r in await poller.poll()]
            finally:
                await buses[0].close()
                await server.stop()

    assert [
        (r.address, r.count) for r in make_pollers(_gateway("/dev/null", [dict(device)]), PROFILES)[0][0].requests
    ] == [
        (0x0001, 6),  # distance .. rs485_framing, read through the gap
        (0x001A, 1),
        (0x0020, 3),
    ]
    assert asyncio.run(scenario()) == [
        ("kim_long.distance", 9.63, Quality.good),
        ("kim_long.rs485_framing", 4.0, Quality.good),  # even parity, 1 stop bit
        ("kim_long.electronics_temp", 31.0, Quality.good),
        ("kim_long.level", 2.37, Quality.good),
        ("kim_long.level_average", 2.37, Quality.good),
        ("kim_long.sensor_height", 12.0, Quality.good),
    ]
    assert PROFILES["geolux_lx80"].serial.parity == "E"


def _corrupt_every_other(kind: str) -> TracePacket:
    sent = {"n": 0}

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        sent["n"] += 1
        if sent["n"] % 2:
            return data
        if kind == "crc":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return data[:-3]  # truncated mid-frame

    return trace


@pytest.mark.parametrize("kind", ["crc", "truncated"])
def test_corrupted_and_truncated_frames_are_retried_never_decoded(tmp_path: Path, kind: str) -> None:
    rounds, buses = asyncio.run(_on_bus(tmp_path, [LEVEL], polls=4, trace=_corrupt_every_other(kind)))
    assert all(r == [[(4.88, Quality.good), (7.12, Quality.good)]] for r in rounds)
    health = buses[0].health["level"]
    assert health.requests == 7 and health.retries == 3 and health.errors == 0  # every second frame broken
    assert health.crc_errors == (3 if kind == "crc" else 0)


def test_a_wrong_byte_order_reads_a_wrong_value_and_probe_shows_the_right_one(tmp_path: Path) -> None:
    # The device holds 4.88 big-endian (ABCD); the profile says CDAB.
    abcd = PROFILES["river_level_radar"].model_copy(
        update={
            "registers": (PROFILES["river_level_radar"].register("level").model_copy(update={"byte_order": "ABCD"}),)
        }
    )

    async def scenario(pair: PtyPair) -> tuple[list[int], float | None]:
        station = StationSimulator(abcd, _flat(4.88), ReplayClock(0, 1), 0, unit_id=1)
        server = await RtuStations([station], pair.device_end, baud=19200).start()
        pollers, buses = make_pollers(_gateway(pair.master_end, [dict(LEVEL, sensors={"level": "x.level"})]), PROFILES)
        try:
            (reading,) = await pollers[0].poll()
            words = await pollers[0].reader.read("holding", 0, 2)
        finally:
            await buses[0].close()
            await server.stop()
        return words, reading.value

    with PtyPair(tmp_path) as pair:
        words, misread = asyncio.run(scenario(pair))
    assert misread != 4.88
    decodings = decode_all_orders(words)
    assert decodings["float32"][ByteOrder.ABCD] == 4.88
    assert decodings["float32"][ByteOrder.CDAB] == misread


def test_river_level_goes_before_camera_health_when_the_bus_is_busy(tmp_path: Path) -> None:
    order: list[int] = []

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending:
            order.append(data[0])
        return data

    async def scenario(pair: PtyPair) -> None:
        stations = [
            StationSimulator(PROFILES["river_level_radar"], _flat(1), ReplayClock(0, 1), 0, unit_id=u)
            for u in (1, 2, 3)
        ]
        server = await RtuStations(stations, pair.device_end, baud=19200, trace_packet=trace).start()
        line = SerialLine(pair.master_end, 19200, "N", 1, 8)
        bus = SerialBus(line)
        low, mid, high = (BusDevice(f"d{u}", u, p, 0.2, 0, 1) for u, p in ((1, 1), (2, 5), (3, 9)))
        try:
            # Queued at once, lowest priority first: the bus serves them by priority.
            await asyncio.gather(*(bus.read(d, "holding", 0, 2) for d in (low, mid, low, high)))
        finally:
            await bus.close()
            await server.stop()

    with PtyPair(tmp_path) as pair:
        asyncio.run(scenario(pair))
    assert order == [3, 2, 1, 1]


def test_write_frames_match_the_spec_examples() -> None:
    # Modbus Application Protocol examples: write register 1 of unit 0x11 with 3 (fc 6), and
    # registers 1-2 with 0x000A, 0x0102 (fc 16).
    assert encode_write(0x11, 1, [3]) == bytes.fromhex("1106000100039a9b")
    assert encode_write(0x11, 1, [0x000A, 0x0102]) == bytes.fromhex("11100001000204000a0102c6f0")
    assert write_echo(encode_write(0x11, 1, [0x000A, 0x0102])) == with_crc(bytes.fromhex("111000010002"))


@given(st.integers(1, 247), st.integers(0, 65535), st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=123))
def test_write_echoes_are_checked(unit: int, address: int, words: list[int]) -> None:
    request = encode_write(unit, address, words)
    decode_write_response(write_echo(request), request)  # the device took it
    wrong = write_echo(encode_write(unit, address, [w ^ 1 for w in words]))
    if len(words) == 1:  # fc 6 echoes the value; fc 16 only address and count
        with pytest.raises(UnexpectedFrame):
            decode_write_response(wrong, request)
    with pytest.raises(CrcMismatch):
        echo = write_echo(request)
        decode_write_response(echo[:-1] + bytes([echo[-1] ^ 0xFF]), request)
    refused = with_crc(bytes([unit, request[1] | 0x80, 2]))
    with pytest.raises(ExceptionResponse):
        decode_write_response(refused, request)
