"""End to end on real parts: the October 2020 replay at Lệ Thủy reaches BĐ3 and the siren sounds.

Pymodbus stations replay the Kiến Giang at Lệ Thủy (7-8 Oct 2020, BĐ3 crossed at 08:00 on
the 8th) -> the edge gateway -> Mosquitto -> ingest and the rule service -> a BĐ3 warning on
`floodwatch/v1/warnings` -> the SirenService commands the gateway -> the same gateway's agent
switches relay 1 (a coil) of a simulated Waveshare Modbus RTU Relay (D) on its Modbus link and
answers. Nothing faked.
"""

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine

from devstack.stack import FLOOD_DEVICES, LEVEL_CSV, FloodStack, SimulatedDevice
from public_alerts import PublicPolicy
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.sirens import CommandLog, CommandRecord, SirenDispatcher, SirenService
from public_alerts.tables import metadata
from wire_contract import WARNINGS_TOPIC, decode_warning

START = datetime.fromisoformat("2020-10-07T18:00:00+07:00")
END = datetime.fromisoformat("2020-10-08T12:00:00+07:00")
SPEEDUP = 4 * 3600  # four hours of river a second: 4.5 s of replay
SIREN = SimulatedDevice(
    "gw-le-thuy-01", "le-thuy-siren", "waveshare_modbus_rtu_relay_d", "le_thuy", "Le Thuy", LEVEL_CSV,
    {"relay_1": "le_thuy.siren_1"},
)  # fmt: skip


def _policy() -> PublicPolicy:
    data: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["channels"]["le_thuy_sirens"].update(gateway="gw-le-thuy-01", device="le-thuy-siren", deadline_s=20)
    return PublicPolicy.model_validate(data)


def test_le_thuy_reaching_bd3_in_the_replay_sets_the_siren_relay_within_seconds(tmp_path: Path) -> None:
    stack = FloodStack(tmp_path, START, END, SPEEDUP, poll_s=0.1, devices=(*FLOOD_DEVICES[:2], SIREN))
    engine = create_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    metadata.create_all(engine)
    told: list[CommandRecord] = []
    bd3_at: list[float] = []
    relay_at: list[float] = []
    try:
        stack.start_centre()
        port = stack.mosquitto.port
        login = stack.mosquitto.login("warnings")  # the account that alone may command gateways
        dispatcher = SirenDispatcher(
            "127.0.0.1", port, "sirens", _policy(), CommandLog(engine), on_outcome=told.append, login=login
        )
        service = SirenService("127.0.0.1", port, "sirens-warnings", dispatcher, login=login).start()
        listener = stack.mosquitto.client("warnings", client_id="replay-warnings")
        listener.on_message = lambda _c, _u, m: (
            bd3_at.append(time.monotonic()) if decode_warning(bytes(m.payload)).level == 3 else None
        )
        listener.connect("127.0.0.1", port)
        listener.subscribe(WARNINGS_TOPIC, qos=1)
        listener.loop_start()
        assert service.connected.wait(10) and dispatcher.connected.wait(10)

        async def replay() -> None:
            await stack.start_stations()
            siren = stack.simulators["le-thuy-siren"]
            while not stack.replay_done or (bd3_at and not relay_at and time.monotonic() - bd3_at[0] < 10):
                if siren.written_coils and not relay_at:
                    relay_at.append(time.monotonic())
                await asyncio.sleep(0.01)
            deadline = time.monotonic() + 25  # past the command deadline (20 s): an outcome is recorded by then
            while not told and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await stack.stop_stations()

        try:
            asyncio.run(replay())
        finally:
            listener.loop_stop()
            service.stop()
    finally:
        stack.stop_centre()
    assert bd3_at, "the replay did not reach BĐ3 at Lệ Thủy"
    assert relay_at, "the siren relay was never written"
    assert relay_at[0] - bd3_at[0] < 3.0  # warning on MQTT -> relay energised
    assert stack.simulators["le-thuy-siren"].written_coils == {0: 1}
    [record] = told
    assert (record.state, record.value_read, record.gateway) == ("done", 1, "gw-le-thuy-01")
    assert len(service.commanded) == 1
