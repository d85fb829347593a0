"""Backtests, metrics, the training pipeline, the model registry and jobs."""
