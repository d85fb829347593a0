"""The `threatcast` command line: one module per group of commands, assembled in `main`."""

from service.cli.main import app

__all__ = ["app"]
