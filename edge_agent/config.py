"""Gateway configuration: the devices installed at one site and where to publish.

The pydantic models here are the only place a default lives. `load_site` (and
`load_gateway_config`) refuses a file with a wrong key, type or register and says
file:line, key and fix, once per mistake. Types are strict: `unit_id: yes` or
`port: "502"` are refused, not read as 1 and 502.

A device's transport is a union tagged by `kind:` (`tcp`, the default, or `serial`):
a new kind of transport is one more model in `Transport` and one more `Tag`.
"""

import os
import ssl
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from hardware_specs import Baud, Parity, Profile, ProfileSet, SerialDefaults, load_profile_set
from typed_config import ConfigError, line_of, load_yaml_model
from typed_config.secrets import SecretError, SecretRef
from wire_contract.payload import SENSOR_ID_PATTERN
from wire_contract.topics import GATEWAY_ID_PATTERN

SensorId = Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]


class _Strict(BaseModel):
    # strict: no `yes` for 1, no "502" for 502 (a float key still takes an integer)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Paths are written as text in YAML: the one place strict mode must convert.
FilePath = Annotated[Path, Field(strict=False)]


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    # Reconnection waits double from 0.2 s up to this (with jitter).
    reconnect_max_s: Annotated[float, Field(ge=0.2, le=600)] = 30.0
    # TLS: the project CA that signed the broker's certificate; the gateway checks the broker
    # against it before sending its password. Without it the password would cross 4G in clear.
    tls_ca_file: FilePath | None = None
    # This gateway's account (its gateway id) and where its password is: never in this file,
    # but `{file: /etc/floodwatch/mqtt.password}` (mode 0600) or `{env: FLOODWATCH_MQTT_PASSWORD}`.
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    password: SecretRef | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """Checks the broker's chain against `tls_ca_file` and that it names `host`;
        `SecretError` if the CA cannot be loaded."""
        if self.tls_ca_file is None:
            return None
        try:
            return ssl.create_default_context(cafile=str(self.tls_ca_file))
        except (OSError, ssl.SSLError) as error:
            raise SecretError(str(self.tls_ca_file), f"cannot load the CA certificate ({error})") from error


class PublishConfig(_Strict):
    # The telemetry payload's form (wire_contract.packed): packed (series once per batch, zlib)
    # costs a fifth of the JSON bytes or less on the 4G link; json for a centre older than it.
    payload: Literal["packed", "json"] = "packed"
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
    """The disk buffer (SQLite, WAL), `buffer.sqlite` beside the config file unless `path` says
    otherwise. `in_memory: true` (tests, benchmarks) keeps readings in memory only: they die
    with the process."""

    path: FilePath = Path("buffer.sqlite")  # relative paths are relative to the config file
    in_memory: bool = False
    max_mb: Annotated[float, Field(ge=1, le=1_000_000)] = 512
    min_free_disk_mb: Annotated[float, Field(ge=0, le=1_000_000)] = 200
    # full: fsync at every commit (survives a power cut); normal: survives a crash or kill.
    synchronous: Literal["normal", "full"] = "full"

    @model_validator(mode="after")
    def _one_place(self) -> "BufferConfig":
        if self.in_memory and "path" in self.model_fields_set:
            raise ValueError("give buffer.path (on disk) or in_memory: true, not both")
        return self

    @property
    def file(self) -> Path | None:
        """The buffer's file; None when it is in memory."""
        return None if self.in_memory else self.path


class TcpTransport(_Strict):
    kind: Literal["tcp"] = "tcp"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 502


class SerialTransport(_Strict):
    """An RS-485 port; line settings left out come from the device's profile."""

    kind: Literal["serial"]
    port: Annotated[str, Field(min_length=1)]  # /dev/ttyUSB0, /dev/ttyAMA0, /dev/serial/by-id/...
    baud: Baud | None = None
    parity: Parity | None = None
    stop_bits: Literal[1, 2] | None = None
    byte_size: Literal[7, 8] | None = None

    def settings(self, defaults: SerialDefaults) -> SerialDefaults:
        given = {k: v for k, v in self.model_dump(exclude={"kind", "port"}).items() if v is not None}
        return defaults.model_copy(update=given)


class NodeTransport(_Strict):
    """A microcontroller node on a serial port of its own (firmware_bridge/PROTOCOL.md): a UART,
    an RS-485 pair or USB CDC (/dev/ttyACM0); the device's profile has protocol floodwatch_node."""

    kind: Literal["node"]
    port: Annotated[str, Field(min_length=1)]
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] = 115200


def _transport_kind(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "tcp"))
    return str(getattr(value, "kind", "tcp"))


Transport = Annotated[
    Annotated[TcpTransport, Tag("tcp")]
    | Annotated[SerialTransport, Tag("serial")]
    | Annotated[NodeTransport, Tag("node")],
    Discriminator(
        _transport_kind, custom_error_type="transport_kind", custom_error_message="kind: is tcp, serial or node"
    ),
]
TRANSPORT_KINDS = ("tcp", "serial", "node")


def bus_key(transport: SerialTransport) -> str:
    """One bus per device file: /dev/serial/by-id/... and the /dev/ttyUSB0 it links to are one port."""
    return os.path.realpath(transport.port)


class BusConfig(_Strict):
    """Serial buses: when a device that stops answering is set aside."""

    quarantine_after: Annotated[int, Field(ge=1, le=100)] = 3
    quarantine_max_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0


class Device(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    profile: str
    station: SensorId
    transport: Transport
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
    # A folder of the site's own device profiles (NAME.yaml), added to the shipped ones; one
    # of the same name replaces the shipped profile. Relative to the config file.
    profiles_dir: FilePath | None = None
    devices: Annotated[tuple[Device, ...], Field(min_length=1, strict=False)]


class _Where:
    """file:line for a dotted key of the config file (read again only when a check fails)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, *keys: int | str) -> str:
        try:
            line = line_of(yaml.compose(self.path.read_text(encoding="utf-8")), keys)
        except (OSError, yaml.YAMLError):
            line = None
        key = ".".join(str(k) for k in keys)
        return f"{self.path}:{line} {key}" if line else f"{self.path}: {key}"


def _check_unique(where: _Where, config: GatewayConfig) -> None:
    names: dict[str, int] = {}
    sensors: dict[str, tuple[int, str]] = {}
    for index, device in enumerate(config.devices):
        if device.name in names:
            raise ConfigError(
                where.path,
                f"{where('devices', index, 'name')}: {device.name!r} is already devices.{names[device.name]}",
            )
        names[device.name] = index
        for register, sensor in device.sensors.items():
            if sensor in sensors:
                first, first_register = sensors[sensor]
                raise ConfigError(
                    where.path,
                    f"{where('devices', index, 'sensors', register)}: sensor id {sensor!r} is already "
                    f"devices.{first}.sensors.{first_register}; each sensor id is published once",
                )
            sensors[sensor] = (index, register)


def _check_against_profiles(where: _Where, config: GatewayConfig, profiles: ProfileSet) -> None:
    for index, device in enumerate(config.devices):
        if device.profile in profiles.broken:
            error = profiles.broken[device.profile]
            raise ConfigError(
                where.path, f"{where('devices', index, 'profile')}: profile {device.profile!r} is broken:\n{error}"
            )
        profile = profiles.profiles.get(device.profile)
        if profile is None:
            raise ConfigError(
                where.path,
                f"{where('devices', index, 'profile')}: no profile {device.profile!r}; "
                f"use one of {sorted(profiles.profiles)} (shipped in hardware_specs/profiles/, "
                "or your own in profiles_dir)",
            )
        for register in device.sensors:
            if register not in {r.name for r in profile.registers}:
                raise ConfigError(
                    where.path,
                    f"{where('devices', index, 'sensors', register)}: profile {profile.name!r} has no register "
                    f"{register!r}; it has {[r.name for r in profile.registers]}",
                )


def _check_nodes(where: _Where, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    """A node profile needs a node transport and the other way round; a node has its port to itself."""
    ports: dict[str, int] = {}
    for index, device in enumerate(config.devices):
        transport = device.transport
        port = None if isinstance(transport, TcpTransport) else os.path.realpath(transport.port)  # as bus_key
        is_node = isinstance(device.transport, NodeTransport)
        protocol = profiles[device.profile].protocol
        if is_node != (protocol == "floodwatch_node"):
            kind = "{kind: node, port: ...}" if not is_node else "{kind: serial, ...} or {kind: tcp, ...}"
            raise ConfigError(
                where.path,
                f"{where('devices', index, 'transport')}: profile {device.profile!r} speaks {protocol}: "
                f"the transport must be {kind}",
            )
        if port is None:
            continue
        first = ports.setdefault(port, index)
        if first != index and (is_node or isinstance(config.devices[first].transport, NodeTransport)):
            raise ConfigError(
                where.path,
                f"{where('devices', index, 'transport', 'port')}: {transport.port} is already devices.{first}'s, "
                "and a node needs a port of its own (the node protocol is point to point)",
            )


def _check_serial_buses(where: _Where, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    """Devices on one port (after symlinks) share its line settings and need distinct unit ids."""
    path = where.path
    seen: dict[str, tuple[int, SerialDefaults, set[int]]] = {}
    for index, device in enumerate(config.devices):
        transport = device.transport
        if not isinstance(transport, SerialTransport):
            continue
        settings = transport.settings(profiles[device.profile].serial)
        key = where("devices", index, "transport")
        first = seen.get(bus_key(transport))
        if first is None:
            seen[bus_key(transport)] = (index, settings, {device.unit_id})
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
            same = "" if bus_key(transport) == transport.port else f" (the same port as {bus_key(transport)})"
            raise ConfigError(
                path,
                f"{where('devices', index, 'unit_id')}: {device.unit_id} is already used on {transport.port}{same}",
            )
        units.add(device.unit_id)


def line_settings(device: Device, profile: Profile) -> SerialDefaults:
    assert isinstance(device.transport, SerialTransport)
    return device.transport.settings(profile.serial)


def _without_transport_kind(keys: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the transport's kind in the path (devices.0.transport.serial.port); the file has no such key."""
    if len(keys) > 3 and keys[0] == "devices" and keys[2] == "transport" and keys[3] in TRANSPORT_KINDS:
        return keys[:3] + keys[4:]
    return keys


def load_site(path: Path, profiles_dir: Path | None = None) -> tuple[GatewayConfig, dict[str, Profile]]:
    """The config at `path` and the profiles it may use: the shipped ones, then its `profiles_dir`,
    then `profiles_dir` given here (`--profiles`). A broken profile fails only a config that names it."""
    config = load_yaml_model(path, GatewayConfig, user_loc=_without_transport_kind)
    here = path.resolve().parent
    buffer = config.buffer
    if not buffer.path.is_absolute():
        buffer = buffer.model_copy(update={"path": here / buffer.path})
    site_dirs = [here / d for d in (config.profiles_dir, profiles_dir) if d is not None]
    config = config.model_copy(update={"buffer": buffer, "profiles_dir": site_dirs[0] if site_dirs else None})
    where = _Where(path)
    _check_unique(where, config)
    profiles = load_profile_set(*site_dirs)
    _check_against_profiles(where, config, profiles)
    used = {d.profile: profiles.profiles[d.profile] for d in config.devices}
    _check_nodes(where, config, used)
    _check_serial_buses(where, config, used)
    return config, profiles.profiles


def load_gateway_config(path: Path) -> GatewayConfig:
    """`load_site`'s config alone."""
    return load_site(path)[0]


def buffer_problem(config: GatewayConfig) -> str | None:
    """Why the disk buffer cannot be written, or None (`check` and `run` ask before they start)."""
    file = config.buffer.file
    if file is None:
        return None
    folder = file.parent
    if not folder.is_dir():
        return f"buffer.path: {file}: the folder {folder} does not exist; create it or set buffer.path"
    target = file if file.exists() else folder
    if not os.access(target, os.W_OK) or (file.exists() and not file.is_file()):
        return f"buffer.path: {file}: not writable by this user; fix its owner or set buffer.path"
    return None
