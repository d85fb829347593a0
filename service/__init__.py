"""The ThreatCast service: settings, the HTTP API and the command line."""
