"""The whole flood path in one process tree: real Mosquitto and InfluxDB, station
simulators replaying recorded data, gateways, ingest and the rule service.

Used by the demo (`python -m devstack.demo`) and the end-to-end test, so both
exercise exactly the same wiring.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from broker_access.directory import AccessDirectory
from devstack.centre_influx import ingest_influx, service_influx
from devstack.replay_data import LEVEL_CSV, RAIN_CSV, load_series
from devstack.services import InfluxDB, Mosquitto, free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig
from hardware_specs import load_profiles
from ingest import IngestConfig, IngestService
from rules.levels import SHIPPED_RULES
from rules.service import RulesService
from rules.service_config import RulesServiceConfig


@dataclass(frozen=True)
class SimulatedDevice:
    gateway: str
    name: str
    profile: str
    station: str  # our station id
    recorded_station: str  # station name in the CSV
    csv: Path
    sensors: dict[str, str]


# Lệ Thủy (level and rain, on one gateway) and Kiến Giang upstream (level, another gateway).
FLOOD_DEVICES = (
    SimulatedDevice(
        "gw-le-thuy-01",
        "le-thuy-level",
        "river_level_radar",
        "le_thuy",
        "Le Thuy",
        LEVEL_CSV,
        {"level": "le_thuy.level"},
    ),
    SimulatedDevice(
        "gw-le-thuy-01",
        "le-thuy-rain",
        "rain_gauge_tipping",
        "le_thuy",
        "Le Thuy",
        RAIN_CSV,
        {"tips": "le_thuy.rain_tips", "rain": "le_thuy.rain", "rain_hour": "le_thuy.rain_hour"},
    ),
    SimulatedDevice(
        "gw-kien-giang-01",
        "kien-giang-level",
        "river_level_radar",
        "kien_giang",
        "Kien Giang",
        LEVEL_CSV,
        {"level": "kien_giang.level"},
    ),
)


@dataclass
class FloodStack:
    root: Path
    start: datetime
    end: datetime
    speedup: float
    poll_s: float
    devices: tuple[SimulatedDevice, ...] = FLOOD_DEVICES
    rules_path: Path = SHIPPED_RULES
    rules_batch_window_ms: int = 20
    mosquitto: Mosquitto = field(init=False)
    influxdb: InfluxDB = field(init=False)
    ingest: IngestService = field(init=False)
    rules: RulesService = field(init=False)
    clock: ReplayClock = field(init=False)
    simulators: dict[str, StationSimulator] = field(init=False, default_factory=dict)
    agents: list[Agent] = field(init=False, default_factory=list)
    _stop_agents: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _agent_tasks: list["asyncio.Task[None]"] = field(init=False, default_factory=list)

    def start_centre(self, database: str = "floodwatch") -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Secure as in production: TLS, a password per account, ACLs from the access registry
        # (made once in `root/access`, kept across runs like the data).
        access = AccessDirectory(self.root / "access")
        if not access.registry_path.exists():
            access.init(["127.0.0.1", "localhost"], gateways=sorted({d.gateway for d in self.devices}))
        self.mosquitto = Mosquitto(self.root, access=access).start()
        # InfluxDB with authentication on, as in production: an admin creates the database and
        # its storage layout; ingest and the rules write with the writer account.
        self.influxdb = InfluxDB(self.root, auth=True).start()
        ingest_config = IngestConfig.model_validate(
            {
                "broker": self.mosquitto.broker_config("ingest", "floodwatch-ingest-1"),
                "influx": ingest_influx(self.influxdb, database),
                "dead_letter_file": str(self.root / "deadletter.jsonl"),
            }
        )
        self.ingest = IngestService(ingest_config).start()
        self.rules = RulesService(
            RulesServiceConfig.model_validate(
                {
                    "broker": self.mosquitto.broker_config("rules", "floodwatch-rules-1"),
                    "influx": service_influx(self.influxdb, "writer", database),
                    "rules_path": self.rules_path,
                    "batch_window_ms": self.rules_batch_window_ms,
                }
            )
        ).start()
        for service in (self.ingest.consumer, self.rules.consumer):
            if not service.connected.wait(10):
                raise RuntimeError("centre services did not connect to Mosquitto")

    async def start_stations(self) -> None:
        profiles = load_profiles()
        self.clock = ReplayClock(self.start.timestamp(), self.speedup)
        gateways: dict[str, list[dict[str, object]]] = {}
        for device in self.devices:
            series = load_series(device.csv, device.recorded_station, self.start, self.end)
            port = free_port()
            sim = StationSimulator(profiles[device.profile], series, self.clock, port)
            self.simulators[device.name] = await sim.start()
            gateways.setdefault(device.gateway, []).append(
                {
                    "name": device.name,
                    "profile": device.profile,
                    "station": device.station,
                    "transport": {"kind": "tcp", "host": "127.0.0.1", "port": port},
                    "poll_s": self.poll_s,
                    "timeout_ms": 1000,
                    "sensors": device.sensors,
                }
            )
        for gateway, devices in gateways.items():
            config = GatewayConfig.model_validate(
                {
                    "gateway_id": gateway,
                    "mqtt": self.mosquitto.gateway_mqtt(gateway),
                    # the real store-and-forward path, as on a Pi (synchronous=normal: no fsync per poll here)
                    "buffer": {"path": str(self.root / f"{gateway}.buffer.sqlite"), "synchronous": "normal"},
                    "devices": devices,
                }
            )
            agent = Agent(config, profiles)
            self.agents.append(agent)
            self._agent_tasks.append(asyncio.create_task(agent.run(self._stop_agents), name=f"agent-{gateway}"))

    @property
    def replay_done(self) -> bool:
        return self.clock.data_time() >= self.end.timestamp()

    async def stop_stations(self) -> None:
        """Stop polling, publish what the gateways hold, then stop the simulators."""
        self._stop_agents.set()
        await asyncio.gather(*self._agent_tasks)
        for sim in self.simulators.values():
            await sim.stop()

    def published_readings(self) -> int:
        return sum(agent.publisher.published_readings for agent in self.agents)

    def wait_until_ingested(self, timeout_s: float = 30.0) -> bool:
        """True once ingest has written, and the rules have seen, every reading the gateways published."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            written = self.ingest.points_written >= self.published_readings()
            if written and self.rules.consumer.handled_messages >= self.ingest.consumer.handled_messages:
                return True
            time.sleep(0.1)
        return False

    def stop_centre(self) -> None:
        """Stop whatever was started, in reverse order (safe after a failed start)."""
        for name in ("rules", "ingest", "influxdb", "mosquitto"):
            service = getattr(self, name, None)
            if service is not None:
                service.stop()
