"""The real rule service decides, the IOC takes its warnings: a reading that crosses BĐ2
raises a warning, the next one below BĐ1 resolves it, as the rules said."""

import time
from collections.abc import Callable

import httpx

from devstack.centre_influx import service_influx
from devstack.services import InfluxDB, Mosquitto
from ioc.accounts import Role
from rules.service import RulesService
from rules.service_config import RulesServiceConfig
from tests.ioc.conftest import PASSWORD, LiveApp, wait_for
from wire_contract import Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic


def test_the_rule_services_decisions_become_warnings_with_a_lifecycle(
    live_app: LiveApp,
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    unique_name: str,
    publish: Callable[[str, bytes, bool], None],
) -> None:
    config = RulesServiceConfig.model_validate(
        {
            "broker": mosquitto.broker_config("rules", f"rules-{unique_name}"),
            "influx": service_influx(influxdb, "writer", unique_name.replace("-", "_")),
            "tick_s": 0,
        }
    )
    rules = RulesService(config)
    rules.start()
    try:
        live_app.add_user("lan", Role.viewer)
        client = httpx.Client(base_url=live_app.url, timeout=10)
        assert client.post("/api/login", json={"username": "lan", "password": PASSWORD}).status_code == 200
        now = int(time.time() * 1000)
        gateway = f"gw-{unique_name}"
        for seq, (value, at) in enumerate(((2.35, now), (0.80, now + 60_000))):
            reading = Reading(
                sensor="le_thuy.level",
                station="le_thuy",
                quantity="water_level",
                value=value,
                unit="m",
                ts_ms=at,
                quality=Quality.good,
            )
            batch = TelemetryBatch(gateway=gateway, seq=seq, readings=(reading,))
            publish(telemetry_topic(gateway), encode_telemetry(batch), False)

        def le_thuy() -> list[dict]:
            return client.get("/api/warnings", params={"station": "le_thuy"}).json()["warnings"]

        wait_for(lambda: le_thuy() and le_thuy()[0]["state"] == "resolved", what="the rules' warning and its all clear")
        [warning] = le_thuy()
        assert (warning["rule"], warning["peak_level"], warning["closed_by"]) == ("le_thuy_level", 2, "rules")
        trail = client.get(f"/api/warnings/{warning['id']}").json()["audit"]
        assert [(e["actor"], e["action"], e["detail"]["level"]) for e in trail] == [
            ("rules", "raised", 2),
            ("system", "public_draft", 2),  # awaits an operator; the all clear withdraws it
            ("rules", "resolved", 0),
        ]
    finally:
        rules.stop()
