"""The forecast kind: a station's level 1..12 h ahead from its own level, upstream levels
lagged by their travel time and the catchment's rain (`reference` says what it means,
`kernels` runs it compiled), fitted on the record by `calibrate`, run by `rule`."""

from rules.forecast.calibrate import calibrate
from rules.forecast.model import ForecastModel, load_forecast_model
from rules.forecast.rule import run_forecast

__all__ = ["ForecastModel", "calibrate", "load_forecast_model", "run_forecast"]
