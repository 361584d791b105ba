"""The forecast kind: a station's level 1..12 h ahead from its own level, upstream levels
lagged by their travel time and the catchment's rain (`reference` says what it means,
`kernels` runs it compiled), fitted on the record by `calibrate` (`model` is the file it
writes), run as a rule by `rule` (live and in backtests, through `rules.evaluator`)."""
