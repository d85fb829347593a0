"""Machine-learning operations: backtests and metrics, training and its input checks, the model
registry, signed artifacts, jobs, and issuing forecasts from a verified version."""
