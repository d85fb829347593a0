"""Alerts on forecasts: rules operators write, their evaluation on each champion issue, and the
delivery of alerts to receivers."""
