"""Gateway configuration: the devices installed at one site and where to publish.

The pydantic models here are the only place a default lives. `load_gateway_config`
refuses a file with a wrong key, type or register and says file:line, key and fix.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_specs import Profile, load_profiles
from typed_config import ConfigError, load_yaml_model
from wire_contract.payload import SENSOR_ID_PATTERN
from wire_contract.topics import GATEWAY_ID_PATTERN

SensorId = Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    username: str | None = None
    password: str | None = None


class PublishConfig(_Strict):
    max_batch: Annotated[int, Field(ge=1, le=5000)] = 200
    max_wait_ms: Annotated[int, Field(ge=0, le=60_000)] = 500


class TcpTransport(_Strict):
    kind: Literal["tcp"] = "tcp"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 502


class Device(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    profile: str
    station: SensorId
    transport: TcpTransport
    unit_id: Annotated[int, Field(ge=0, le=247)] = 1
    poll_s: Annotated[float, Field(gt=0, le=86_400)] = 5.0
    timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = 1000
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    # register name in the profile -> sensor id published for it
    sensors: Annotated[dict[str, SensorId], Field(min_length=1)]


class GatewayConfig(_Strict):
    gateway_id: Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]
    mqtt: MqttConfig = MqttConfig()
    publish: PublishConfig = PublishConfig()
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


def load_gateway_config(path: Path, profiles: dict[str, Profile] | None = None) -> GatewayConfig:
    config = load_yaml_model(path, GatewayConfig)
    _check_against_profiles(path, config, profiles if profiles is not None else load_profiles())
    return config
