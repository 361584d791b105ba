"""The flood path end to end on real parts: pymodbus stations replaying the October
2020 Lệ Thủy flood -> gateways -> Mosquitto -> ingest -> InfluxDB, and the rule
service raising BĐ warnings. Nothing here is faked."""

import asyncio
from datetime import datetime
from itertools import pairwise

import paho.mqtt.client as mqtt
import pytest

from centre.influx import InfluxV1
from devstack.services import Mosquitto
from devstack.stack import FloodStack
from edge_agent.decode import scaled
from hardware_specs import Register
from rules import SHIPPED_ALARM_LEVELS, level_states, load_alarm_levels
from rules.reference_kinds import rainfall, transitions
from wire_contract import WARNINGS_TOPIC, WarningMessage, decode_warning

START = datetime.fromisoformat("2020-10-07T00:00:00+07:00")
END = datetime.fromisoformat("2020-10-15T00:00:00+07:00")
SPEEDUP = 8 * 3600  # eight hours of river per second: the window takes 24 s
# The shipped level rules, and rain at Lệ Thủy in national 24 h categories. Readings are
# stamped by the gateway's clock, so 24 h of wall time covers the whole fast replay.
RULES = """
rules:
  - {name: le_thuy_level, station: le_thuy, sensor: le_thuy.level, levels: le_thuy}
  - name: le_thuy_rain_24h
    kind: rainfall
    station: le_thuy
    sensor: le_thuy.rain
    window: 24h
    categories:
      - {name: moderate, over_mm: 15}
      - {name: heavy, over_mm: 50}
      - {name: very heavy, over_mm: 100}
"""


def _warning_listener(broker: Mosquitto, received: list[WarningMessage]) -> mqtt.Client:
    client = broker.client("monitor", "e2e-warnings")
    client.on_message = lambda _c, _u, message: received.append(decode_warning(bytes(message.payload)))
    client.connect("127.0.0.1", broker.port)
    client.subscribe(WARNINGS_TOPIC, qos=1)
    client.loop_start()
    return client


async def _replay(stack: FloodStack) -> None:
    await stack.start_stations()
    while not stack.replay_done:
        await asyncio.sleep(0.2)
    await stack.stop_stations()


def _stored(influx: InfluxV1, quantity: str, sensor: str) -> list[tuple[float, str]]:
    series = influx.query(f"SELECT value, quality FROM \"{quantity}\" WHERE sensor = '{sensor}' ORDER BY time")
    return [(value, quality) for _, value, quality in series[0]["values"]] if series else []


def _expected(register: Register, served: list[dict[str, float]]) -> list[float]:
    """What the gateway publishes for what was served: the value, or for a rain increment
    the growth of the tip count since the previous response (0 for the first)."""
    if register.counter_reports != "increment":
        return [values[register.name] for values in served]
    assert register.view_of is not None  # the raw count, served as the register it views
    tips = [int(values[register.view_of]) for values in served]
    return [0.0] + [scaled(register, after - before) for before, after in pairwise(tips)]


@pytest.fixture(scope="module")
def flood_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("e2e")
    (root / "rules.yaml").write_text(RULES)
    stack = FloodStack(root, START, END, SPEEDUP, poll_s=0.1, rules_path=root / "rules.yaml")
    received: list[WarningMessage] = []
    try:
        stack.start_centre()
        listener = _warning_listener(stack.mosquitto, received)
        asyncio.run(_replay(stack))
        assert stack.wait_until_ingested(timeout_s=60), "ingest did not catch up"
        listener.loop_stop()
        yield stack, received
    finally:
        stack.stop_centre()


def test_every_served_reading_is_stored_once_and_unaltered(flood_run) -> None:  # type: ignore[no-untyped-def]
    stack, _ = flood_run
    compared = 0
    for device in stack.devices:
        served = stack.simulators[device.name].served
        assert len(served) > 100, f"{device.name} served only {len(served)} responses"
        profile_registers = {r.name: r for r in stack.simulators[device.name].profile.registers}
        for register_name, sensor in device.sensors.items():
            expected = _expected(profile_registers[register_name], [r.values for r in served])
            stored = _stored(stack.ingest.influx, profile_registers[register_name].quantity, sensor)
            assert [value for value, _ in stored] == expected, sensor
            assert {quality for _, quality in stored} == {"good"}
            compared += len(expected)
    assert compared == stack.published_readings() == stack.ingest.points_written
    assert not stack.ingest.dead_letters.counts
    # The gateways announce the packed form in the MQTT 5 content type; ingest decoded nothing else.
    assert set(stack.ingest.messages_by_form) == {"packed"}


def test_bd_warnings_fire_and_clear_where_the_data_crosses(flood_run) -> None:  # type: ignore[no-untyped-def]
    stack, received = flood_run
    received = [w for w in received if w.kind == "level"]
    le_thuy = load_alarm_levels(SHIPPED_ALARM_LEVELS).station("le_thuy")
    levels_served = [r.values["level"] for r in stack.simulators["le-thuy-level"].served]
    states = level_states(levels_served, le_thuy.thresholds_m, le_thuy.clear_below_m, 0)
    expected = [
        (before, after, value)
        for before, after, value in zip([0, *states], states, levels_served, strict=False)
        if before != after
    ]
    assert [(w.previous_level, w.level, w.value) for w in received] == expected
    # What the record itself says: up through BĐ1, BĐ2, BĐ3 on 7-8 October, and back down by the 14th.
    assert [(b, a) for b, a, _ in expected[:3]] == [(0, 1), (1, 2), (2, 3)]
    assert expected[0][2] >= 1.20 and expected[1][2] >= 2.20 and expected[2][2] >= 2.70
    assert (2, 1) in [(b, a) for b, a, _ in expected]
    stored = stack.ingest.influx.query(
        "SELECT previous_level, level, value FROM warning WHERE rule = 'le_thuy_level' ORDER BY time"
    )
    assert [tuple(row[1:]) for row in stored[0]["values"]] == expected
    assert all(w.thresholds_m == (1.2, 2.2, 2.7) for w in received)


def test_rain_from_the_tip_counter_raises_the_rainfall_rule(flood_run) -> None:  # type: ignore[no-untyped-def]
    stack, received = flood_run
    series = stack.ingest.influx.query("SELECT value FROM rain WHERE sensor = 'le_thuy.rain' ORDER BY time")
    ts = [int(row[0]) for row in series[0]["values"]]
    rain = [row[1] for row in series[0]["values"]]
    served = stack.simulators["le-thuy-rain"].served
    # The increments add up to the rain the gauge counted over the replay, nothing twice.
    assert sum(rain) == pytest.approx(served[-1].values["rain_total"] - served[0].values["rain_total"])
    assert sum(rain) > 100
    states = rainfall(ts, rain, 0, [86_400_000.0, 15.0, 50.0, 100.0], [-1.0, 0.0])
    expected = [(before, after, ts[index]) for index, before, after in transitions(states, 0)]
    got = [(w.previous_level, w.level, w.ts_ms) for w in received if w.rule == "le_thuy_rain_24h"]
    assert got == expected
    assert [(b, a) for b, a, _ in expected] == [(0, 1), (1, 2), (2, 3)]
