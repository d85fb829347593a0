"""`python -m service` runs the threatcast command line."""

from service.cli import app

app(prog_name="threatcast")
