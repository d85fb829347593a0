"""Machine-learning operations: backtests and metrics, training and its input checks, the model
registry, signed artifacts, jobs and the worker, and issuing forecasts from a verified version.
Web workers import only its read side: training.issued, the registry, manifests and the queue."""
