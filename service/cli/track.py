"""`threatcast track-record`: how the issued forecasts did, beside the references."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer

from service.cli.support import SERIES_HELP, fail, open_engine, series_of
from training.track_record import ISSUED, record_outcomes, scored_rows, summarize


def _number(value: float) -> str:
    return "    -" if math.isnan(value) else f"{value:.4f}"


def track_record(
    ctx: typer.Context,
    series: Annotated[str | None, typer.Option(help=SERIES_HELP)] = None,
    region: Annotated[str | None, typer.Option(help="Only this region (ISO 3166-2).")] = None,
    horizon: Annotated[int | None, typer.Option(min=1, help="Only this horizon.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole record as JSON.")
    ] = False,
) -> None:
    """Score every issued forecast whose target the data cover, then print the record: per
    target month and overall, first-release and latest, ours beside the references."""
    chosen = series_of(ctx, series)
    engine = open_engine(ctx)
    record_outcomes(engine)
    summary = summarize(scored_rows(engine, chosen.key, region=region, horizon=horizon))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    if not summary["months"]:
        raise fail(f"no scored forecasts of {chosen.key} yet: the data do not cover a target", 1)
    models = list(summary["overall"]["first"])
    typer.echo(f"{chosen.key}: Brier of p_event by target period (first release)")
    typer.echo(f"{'period':<9}" + "".join(f"{m:>13}" for m in models))
    for month in summary["months"]:
        scores = month["first"]
        typer.echo(
            f"{month['period']:<9}"
            + "".join(f"{_number(scores[m]['brier']) if m in scores else '-':>13}" for m in models)
        )
    for release in ("first", "latest"):
        overall = summary["overall"][release]
        typer.echo(
            f"overall ({release}): "
            + ", ".join(f"{m} Brier {_number(overall[m]['brier'])}" for m in models)
            + f"; {ISSUED} pinball {_number(overall[ISSUED]['pinball'])}, coverage "
            f"{_number(overall[ISSUED]['coverage_p10_p90'])}"
        )
    for skill in summary["skill"]:
        typer.echo(
            f"skill against {skill['reference']} ({skill['release']} release): "
            f"{_number(skill['brier_skill'])} (90% over months: {_number(skill['interval_low'])} "
            f"to {_number(skill['interval_high'])})"
        )
    if summary["revised_targets"]:
        typer.echo(f"{summary['revised_targets']} scored targets were revised by a newer release")


def register(app: typer.Typer) -> None:
    app.command("track-record")(track_record)
