"""The public-alert policy: which warnings leave the centre, for which areas, by which channels.

Data, not code (`public_alerts/policy.yaml` is the sample the tests load). Loaded through
`typed_config`, so a mistake is refused at start-up with file:line:

    policy.yaml:31 routes.2.approval: automatic approval is only for siren channels at BĐ3 ...

Rules the loader enforces (refuse, don't clamp):
- every channel a route names exists, and every area list covers levels 1..3 of its station;
- a polygon is a closed ring of at least four lat,lon points within WGS 84;
- `approval: automatic` only on a siren channel whose route starts at level 3 (BĐ3):
  anything that reaches citizens' phones waits for an operator (draft -> approved -> sent);
- data warnings (a sensor gone silent) are never public: the policy cannot route them.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from centre.config import http_url
from typed_config import load_yaml_model

SAMPLE_POLICY = Path(__file__).with_name("policy.yaml")

# The rule kinds of rules/rulebook (the warning's `kind`), less `staleness` (a data warning).
PUBLIC_KINDS = ("level", "duration", "rate_of_rise", "rainfall", "k_of_n", "escalation", "forecast")
Kind = Literal["level", "duration", "rate_of_rise", "rainfall", "k_of_n", "escalation", "forecast"]
Approval = Literal["operator", "automatic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(_Strict):
    lat_deg: Annotated[float, Field(ge=-90, le=90)]
    lon_deg: Annotated[float, Field(ge=-180, le=180)]


class Circle(_Strict):
    centre: Point
    radius_km: Annotated[float, Field(gt=0, le=500)]


class Geocode(_Strict):
    # CAP's valueName: the code system ("VN-ADMIN" for the General Statistics Office's
    # administrative unit codes, mã đơn vị hành chính).
    value_name: Annotated[str, Field(min_length=1, max_length=40)]
    value: Annotated[str, Field(min_length=1, max_length=40)]


class Area(_Strict):
    """One commune or ward (xã, phường) a warning concerns: a polygon, circles and/or geocodes."""

    description_vi: Annotated[str, Field(min_length=1, max_length=200)]
    description_en: Annotated[str, Field(min_length=1, max_length=200)]
    polygon: tuple[Point, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[Geocode, ...] = ()
    source: str = ""

    @model_validator(mode="after")
    def _located(self) -> "Area":
        if not (self.polygon or self.circles or self.geocodes):
            raise ValueError(f"area {self.description_en!r} needs a polygon, a circle or a geocode")
        if self.polygon:
            if len(self.polygon) < 4:
                raise ValueError(f"polygon of {len(self.polygon)} points: CAP needs at least 4 (a closed ring)")
            if self.polygon[0] != self.polygon[-1]:
                raise ValueError("polygon is not closed: the last point must repeat the first")
        return self


class StationAreas(_Strict):
    station: Annotated[str, Field(min_length=1, max_length=64)]
    # The areas affected at each level, BĐ1..BĐ3: a higher level usually reaches more communes.
    areas_by_level: dict[Annotated[int, Field(ge=1, le=3)], tuple[Area, ...]]

    @field_validator("areas_by_level")
    @classmethod
    def _every_level(cls, value: dict[int, tuple[Area, ...]]) -> dict[int, tuple[Area, ...]]:
        missing = sorted({1, 2, 3} - set(value))
        if missing:
            raise ValueError(f"no areas for level(s) {missing}: every level 1..3 needs at least one area")
        empty = sorted(level for level, areas in value.items() if not areas)
        if empty:
            raise ValueError(f"level(s) {empty} list no area")
        return value


class FeedChannel(_Strict):
    type: Literal["feed"]


class WebhookChannel(_Strict):
    type: Literal["webhook"]
    url: Annotated[str, AfterValidator(http_url)]
    # The HMAC-SHA256 key is read from this environment variable, never from the file.
    secret_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    max_per_minute: Annotated[int, Field(ge=1, le=60_000)] = 60
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    first_retry_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    max_retry_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class SirenChannel(_Strict):
    type: Literal["siren"]
    gateway: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    device: Annotated[str, Field(min_length=1, max_length=64)]
    register_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    on_value: int = 1
    deadline_s: Annotated[float, Field(gt=0, le=3600)] = 60.0


Channel = Annotated[FeedChannel | WebhookChannel | SirenChannel, Field(discriminator="type")]


class Route(_Strict):
    """Warnings of these kinds, at `min_level` or above, go to `channel`."""

    channel: str
    kinds: tuple[Kind, ...] = ("level",)
    min_level: Annotated[int, Field(ge=1, le=3)] = 1
    stations: tuple[str, ...] | None = None
    approval: Approval = "operator"


class PublicPolicy(_Strict):
    sender: Annotated[str, Field(min_length=1, max_length=200)]
    sender_name_vi: Annotated[str, Field(min_length=1, max_length=300)]
    sender_name_en: Annotated[str, Field(min_length=1, max_length=300)]
    # Where the IOC app serves alerts: feed links and each alert's CAP URL start here.
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    # An alert expires this long after it was sent unless an Update replaces it.
    expires_after_h: Annotated[float, Field(gt=0, le=168)] = 24.0
    channels: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Channel]
    stations: tuple[StationAreas, ...]
    routes: tuple[Route, ...]

    @field_validator("stations")
    @classmethod
    def _stations_once(cls, value: tuple[StationAreas, ...]) -> tuple[StationAreas, ...]:
        names = [s.station for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"station(s) {twice} listed more than once")
        return value

    @field_validator("routes")
    @classmethod
    def _routes_consistent(cls, routes: tuple[Route, ...], info: ValidationInfo) -> tuple[Route, ...]:
        channels: dict[str, FeedChannel | WebhookChannel | SirenChannel] = info.data.get("channels", {})
        names = [s.station for s in info.data.get("stations", ())]
        for index, route in enumerate(routes):
            channel = channels.get(route.channel)
            if channel is None:
                known = sorted(channels)
                raise ValueError(f"routes.{index}: channel {route.channel!r} is not defined; known: {known}")
            if route.approval == "automatic" and not (isinstance(channel, SirenChannel) and route.min_level == 3):
                raise ValueError(
                    f"routes.{index}: automatic approval is only for siren channels at BĐ3 (min_level 3); "
                    f"{route.channel!r} is a {channel.type} channel at min_level {route.min_level}: "
                    "use approval: operator"
                )
            for station in route.stations or ():
                if station not in names:
                    raise ValueError(f"routes.{index}: station {station!r} has no areas in this policy")
        return routes

    def areas(self, station: str, level: int) -> tuple[Area, ...]:
        """The areas a warning at `level` (1..3) reaches; () for a station the policy does not cover."""
        for entry in self.stations:
            if entry.station == station:
                return entry.areas_by_level[level]
        return ()

    def routes_for(self, station: str, kind: str, level: int, *, data_warning: bool = False) -> tuple[Route, ...]:
        """The routes a warning takes; `level` is the warning's (for a clear, the level it clears)."""
        if data_warning or not self.areas(station, max(level, 1)):
            return ()
        return tuple(
            route
            for route in self.routes
            if kind in route.kinds
            and level >= route.min_level
            and (route.stations is None or station in route.stations)
        )

    def goes_public(self, station: str, kind: str, level: int, *, data_warning: bool = False) -> bool:
        return bool(self.routes_for(station, kind, level, data_warning=data_warning))


def load_policy(path: Path | str = SAMPLE_POLICY) -> PublicPolicy:
    return load_yaml_model(Path(path), PublicPolicy)
