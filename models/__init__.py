"""Forecasting model families: the Forecaster protocol and one module per family."""
