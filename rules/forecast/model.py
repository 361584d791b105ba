"""A calibrated forecast model as a file: what `calibrate` writes and the backtest reads.

One model per station: per horizon (1..12 h), the fitted lags, rain window and gains,
and the residuals' spread. YAML, loaded by the shared typed loader (file:line errors).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.levels import RuleConfigError, StationId, Text
from rules.network import RiverNetwork
from typed_config import ConfigError, load_yaml_model


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class HorizonFit(_Config):
    """level(T + horizon_h) ~= intercept_m + own_gain * level(T)
    + sum_j upstream_gains[j] * upstream_j(T - upstream_lags_h[j]) + rain_gain_m_per_mm * rain(T, rain_window_h)."""

    horizon_h: Annotated[int, Field(ge=1, le=48)]
    upstream_lags_h: tuple[Annotated[int, Field(ge=0)], ...]
    rain_window_h: Annotated[int, Field(ge=1)] | None
    intercept_m: float
    own_gain: float
    upstream_gains: tuple[float, ...]
    rain_gain_m_per_mm: float | None
    sigma_m: Annotated[float, Field(ge=0)]
    rows: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _consistent(self) -> "HorizonFit":
        if len(self.upstream_lags_h) != len(self.upstream_gains):
            raise ValueError("upstream_lags_h and upstream_gains must have one entry per upstream station")
        if (self.rain_window_h is None) != (self.rain_gain_m_per_mm is None):
            raise ValueError("rain_window_h and rain_gain_m_per_mm go together")
        return self

    @property
    def gains(self) -> list[float]:
        """In the order of the terms (rules/forecast/reference.py): 1, own, upstream..., rain."""
        rain = [] if self.rain_gain_m_per_mm is None else [self.rain_gain_m_per_mm]
        return [self.intercept_m, self.own_gain, *self.upstream_gains, *rain]


class ForecastModel(_Config):
    station: StationId
    levels: StationId
    upstream: tuple[StationId, ...]
    rain_gauges: tuple[str, ...]
    max_age_h: Annotated[float, Field(gt=0)]
    train_above_m: float | None = None
    calibrated_on: Text
    horizons: Annotated[tuple[HorizonFit, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> "ForecastModel":
        for fit in self.horizons:
            if len(fit.upstream_lags_h) != len(self.upstream):
                raise ValueError(f"horizon {fit.horizon_h} h: one lag per upstream station ({len(self.upstream)})")
        if [f.horizon_h for f in self.horizons] != sorted({f.horizon_h for f in self.horizons}):
            raise ValueError("horizons must be listed once each, in increasing horizon_h")
        if len({f.rain_window_h is None for f in self.horizons}) > 1:
            raise ValueError("either every horizon has a rain term or none has")
        return self

    @property
    def windows_h(self) -> tuple[int, ...]:
        return tuple(sorted({f.rain_window_h for f in self.horizons if f.rain_window_h is not None}))


def load_forecast_model(path: Path | str) -> ForecastModel:
    path = Path(path)
    try:
        return load_yaml_model(path, ForecastModel)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None


@dataclass(frozen=True)
class ForecastInputs:
    """A forecast rule's model and the sensors it reads (from the river network)."""

    model: ForecastModel
    sensor: str  # the station's own level gauge: its transitions carry it
    upstream_sensors: tuple[str, ...]
    rain_gauges: tuple[str, ...]

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self.sensor, *self.upstream_sensors, *self.rain_gauges)


def forecast_inputs(model: ForecastModel, network: RiverNetwork) -> ForecastInputs:
    """The sensors `model` reads, refused (ValueError, saying what to do) when the network
    no longer matches what the model was fitted with."""
    entry = network.station(model.station)
    upstream = tuple(link.station for link in entry.upstream)
    if upstream != model.upstream:
        raise ValueError(
            f"the model of {model.station!r} was fitted with upstream stations {list(model.upstream)}, "
            f"but the river network lists {list(upstream)}: calibrate it again"
        )
    if entry.level_sensor is None:
        raise ValueError(f"the river network gives {model.station!r} no level_sensor to forecast from")
    gauges = []
    for station in upstream:
        gauge = network.station(station).level_sensor
        if gauge is None:
            raise ValueError(f"the river network gives upstream station {station!r} no level_sensor")
        gauges.append(gauge)
    unknown = [g for g in model.rain_gauges if g not in entry.rain_gauges]
    if unknown:
        raise ValueError(f"rain gauges {unknown} of the model are not in the catchment of {model.station!r}")
    return ForecastInputs(model, entry.level_sensor, tuple(gauges), tuple(entry.rain_gauges) if model.windows_h else ())
