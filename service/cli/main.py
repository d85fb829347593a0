"""The root `threatcast` command: settings and logging for every command, and its subcommands."""

from __future__ import annotations

import logging

import typer
from pydantic import ValidationError

from events.gazetteer import use_country_folders
from service.cli import alerts, countries, data, keys, models, refresh, setup, track
from service.cli.support import fail
from service.settings import get_settings, settings_problems

app = typer.Typer(help="ThreatCast: province-level early-warning forecasts.", no_args_is_help=True)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once and configure logging for every command."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise fail(f"invalid settings: {settings_problems(exc)}", 2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        # The console shows the configured level even while a job records more for its log tail.
        handler.setLevel(settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    use_country_folders(settings.country_folder)
    ctx.obj = settings


for module in (data, setup, models, refresh, track, countries):
    module.register(app)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(alerts.alerts_app, name="alerts")
