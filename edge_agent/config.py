"""Gateway configuration: the devices installed at one site and where to publish.

The pydantic models here are the only place a default lives. `load_gateway_config`
refuses a file with a wrong key, type or register and says file:line, key and fix.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_specs import Profile, SerialDefaults, load_profiles
from typed_config import ConfigError, load_yaml_model
from typed_config.secrets import SecretRef
from wire_contract.payload import SENSOR_ID_PATTERN
from wire_contract.topics import GATEWAY_ID_PATTERN

SensorId = Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    # Reconnection waits double from 0.2 s up to this (with jitter).
    reconnect_max_s: Annotated[float, Field(ge=0.2, le=600)] = 30.0
    # TLS: the project CA that signed the broker's certificate; the gateway checks the broker
    # against it before sending its password. Without it the password would cross 4G in clear.
    tls_ca_file: Path | None = None
    # This gateway's account (its gateway id) and where its password is: never in this file,
    # but `{file: /etc/floodwatch/mqtt.password}` (mode 0600) or `{env: FLOODWATCH_MQTT_PASSWORD}`.
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    password: SecretRef | None = None


class PublishConfig(_Strict):
    max_batch: Annotated[int, Field(ge=1, le=2000)] = 200
    max_wait_ms: Annotated[int, Field(ge=0, le=60_000)] = 500
    # Batches awaiting their PUBACK at once (a 4G round trip is 100 ms or more).
    max_inflight: Annotated[int, Field(ge=1, le=64)] = 4
    # Batches published and not yet confirmed stored by the centre (its `BatchAck`). At the
    # bound no new batch is sealed: the rest waits unsent in the buffer, where the
    # priority drops apply, instead of piling up in the broker's memory.
    max_unconfirmed_batches: Annotated[int, Field(ge=1, le=10_000)] = 100
    # A batch not confirmed this long after its PUBACK is sent again (same seq); each
    # further wait doubles, up to `confirm_timeout_max_s`.
    confirm_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    confirm_timeout_max_s: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    # After an outage, readings older than the reconnection drain at this rate
    # behind the live ones, so the centre sees the present first.
    backlog_rate_per_s: Annotated[float, Field(gt=0, le=100_000)] = 1000.0
    # The retained `online` status is published again this often, with the heartbeat's figures.
    heartbeat_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    # Readings stored this long before the reconnection still count as live.
    live_window_s: Annotated[float, Field(ge=0, le=3600)] = 30.0


class BufferConfig(_Strict):
    """The disk buffer (SQLite, WAL). Without `path` it is in memory: readings die with the process."""

    path: Path | None = None  # relative paths are relative to the config file
    max_mb: Annotated[float, Field(ge=1, le=1_000_000)] = 512
    min_free_disk_mb: Annotated[float, Field(ge=0, le=1_000_000)] = 200
    # full: fsync at every commit (survives a power cut); normal: survives a crash or kill.
    synchronous: Literal["normal", "full"] = "full"


class TcpTransport(_Strict):
    kind: Literal["tcp"] = "tcp"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 502


class SerialTransport(_Strict):
    """An RS-485 port; line settings left out come from the device's profile."""

    kind: Literal["serial"]
    port: Annotated[str, Field(min_length=1)]  # /dev/ttyUSB0, /dev/ttyAMA0, /dev/serial/by-id/...
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] | None = None
    parity: Literal["N", "E", "O"] | None = None
    stop_bits: Literal[1, 2] | None = None
    byte_size: Literal[7, 8] | None = None

    def settings(self, defaults: SerialDefaults) -> SerialDefaults:
        given = {k: v for k, v in self.model_dump(exclude={"kind", "port"}).items() if v is not None}
        return defaults.model_copy(update=given)


class BusConfig(_Strict):
    """Serial buses: when a device that stops answering is set aside."""

    quarantine_after: Annotated[int, Field(ge=1, le=100)] = 3
    quarantine_max_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0


class Device(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    profile: str
    station: SensorId
    transport: TcpTransport | SerialTransport
    unit_id: Annotated[int, Field(ge=0, le=247)] = 1
    poll_s: Annotated[float, Field(gt=0, le=86_400)] = 5.0
    timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = 1000
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    # Quality `stale` once a register has returned the same words this many polls in a row
    # (a frozen transmitter); off by default, as a dry-season river can hold still.
    stale_after_polls: Annotated[int, Field(ge=2, le=100_000)] | None = None
    # Overrides the profile's priority (0-9): when the buffer is full, the lowest is dropped first.
    priority: Annotated[int, Field(ge=0, le=9)] | None = None
    # register name in the profile -> sensor id published for it
    sensors: Annotated[dict[str, SensorId], Field(min_length=1)]

    @model_validator(mode="after")
    def _addressable(self) -> "Device":
        # On Modbus TCP, 0 is a common unit id for the device itself; on RS-485 it is broadcast.
        if self.unit_id == 0 and isinstance(self.transport, SerialTransport):
            raise ValueError(
                "unit_id 0 is the Modbus RTU broadcast address, which no device answers: "
                "set the device's own address (1-247; `floodwatch-edge scan` finds it)"
            )
        return self


class GatewayConfig(_Strict):
    gateway_id: Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]
    mqtt: MqttConfig = MqttConfig()
    publish: PublishConfig = PublishConfig()
    buffer: BufferConfig = BufferConfig()
    bus: BusConfig = BusConfig()
    devices: Annotated[tuple[Device, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> "GatewayConfig":
        names = [d.name for d in self.devices]
        sensors = [s for d in self.devices for s in d.sensors.values()]
        for label, values in (("device names", names), ("sensor ids", sensors)):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{label} must be unique, repeated: {repeated}")
        return self


def _check_against_profiles(path: Path, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    for index, device in enumerate(config.devices):
        key = f"devices.{index}"
        profile = profiles.get(device.profile)
        if profile is None:
            raise ConfigError(
                path,
                f"{path}: {key}.profile: no profile {device.profile!r}; "
                f"use one of {sorted(profiles)} (files in hardware_specs/profiles/)",
            )
        for register in device.sensors:
            if register not in {r.name for r in profile.registers}:
                raise ConfigError(
                    path,
                    f"{path}: {key}.sensors.{register}: profile {profile.name!r} has no register "
                    f"{register!r}; it has {[r.name for r in profile.registers]}",
                )


def _check_serial_buses(path: Path, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    """Devices on one port share its line settings and need distinct unit ids."""
    seen: dict[str, tuple[int, SerialDefaults, set[int]]] = {}
    for index, device in enumerate(config.devices):
        transport = device.transport
        if not isinstance(transport, SerialTransport):
            continue
        settings = transport.settings(profiles[device.profile].serial)
        key = f"{path}: devices.{index}.transport"
        first = seen.get(transport.port)
        if first is None:
            seen[transport.port] = (index, settings, {device.unit_id})
            continue
        first_index, first_settings, units = first
        if settings != first_settings:
            raise ConfigError(
                path,
                f"{key}: {transport.port} is set to {settings.model_dump()} here but "
                f"{first_settings.model_dump()} in devices.{first_index}; one bus has one baud rate and parity: "
                "set baud/parity/stop_bits/byte_size on the transport to match",
            )
        if device.unit_id in units:
            raise ConfigError(
                path, f"{path}: devices.{index}.unit_id: {device.unit_id} is already used on {transport.port}"
            )
        units.add(device.unit_id)


def line_settings(device: Device, profile: Profile) -> SerialDefaults:
    assert isinstance(device.transport, SerialTransport)
    return device.transport.settings(profile.serial)


def load_gateway_config(path: Path, profiles: dict[str, Profile] | None = None) -> GatewayConfig:
    config = load_yaml_model(path, GatewayConfig)
    profiles = profiles if profiles is not None else load_profiles()
    _check_against_profiles(path, config, profiles)
    _check_serial_buses(path, config, profiles)
    buffer_path = config.buffer.path
    if buffer_path is not None and not buffer_path.is_absolute():
        buffer = config.buffer.model_copy(update={"path": path.resolve().parent / buffer_path})
        config = config.model_copy(update={"buffer": buffer})
    return config
