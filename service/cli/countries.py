"""`threatcast countries`: the countries ThreatCast knows, and adding one a user brings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from events.countries import (
    CountryError,
    from_boundaries,
    from_data,
    with_aliases,
    write_definition,
)
from events.gazetteer import default_resolver
from events.sources import SourceFormatError
from service.cli.support import fail, settings_of

countries_app = typer.Typer(
    help="Countries as data: list them, add one from boundaries or from a data file.",
    no_args_is_help=True,
)
_FILE = {"exists": True, "dir_okay": False}


@countries_app.command("list")
def list_countries(ctx: typer.Context) -> None:
    """Every defined country: its code, name, units, boundaries and tracked actor groups."""
    added = settings_of(ctx).country_folder
    for code, country in sorted(default_resolver().gazetteers.items()):
        where = "added" if (added / f"{code}.json").exists() else "bundled"
        shapes = "boundaries" if country.has_boundaries else "names only"
        groups = ", ".join(country.actors.tracked) or "no actor groups"
        typer.echo(
            f"{code}  {country.name}: {len(country.regions)} units, {shapes}, {groups} ({where})"
        )


@countries_app.command("add")
def add_country(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-3 code, e.g. IND.")],
    boundaries: Annotated[
        Path | None,
        typer.Option(**_FILE, help="TopoJSON of the first-level units (geoBoundaries ADM1)."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-data", **_FILE, help="Take the units from the admin-1 names in this file."
        ),
    ] = None,
    name_property: Annotated[
        str | None, typer.Option(help="The boundary file's name property (default: guessed).")
    ] = None,
    aliases: Annotated[
        Path | None,
        typer.Option(**_FILE, help="CSV `name,code`: how sources spell units (fixes matching)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Replace a definition this installation already has.")
    ] = False,
) -> None:
    """Define a country from boundaries or from the names in a data file; units are keyed by
    ISO 3166-2 code, and names that match no code are listed."""
    if (boundaries is None) == (from_file is None):
        raise fail("give one of --boundaries FILE or --from-data FILE", 2)
    if name_property is not None and boundaries is None:
        raise fail("--name-property is for --boundaries", 2)
    folder = settings_of(ctx).country_folder
    known = default_resolver().gazetteers
    try:
        draft = (
            from_boundaries(code, boundaries, name_property)
            if boundaries is not None
            else from_data(code, from_file)  # type: ignore[arg-type]
        )
        if draft.country in known and not replace:
            raise fail(
                f"{draft.country} ({known[draft.country].name}) is already defined; "
                "--replace to replace it",
                2,
            )
        if aliases is not None:
            draft = with_aliases(draft, aliases)
        defined = write_definition(draft, folder)
    except (CountryError, SourceFormatError) as exc:
        raise fail(str(exc), 2) from None
    except ValueError as exc:  # a name given to two units, boundaries that do not read
        raise fail(f"{code}: {exc}", 2) from None
    shapes = "with boundaries" if defined.has_boundaries else "without boundaries (a table)"
    typer.echo(f"{defined.country} ({defined.name}): {draft.units} units, {shapes}")
    if draft.unmatched:
        typer.echo(
            f"{len(draft.unmatched)} names match no ISO 3166-2 code and got codes of their own: "
            + ", ".join(draft.unmatched[:20])
            + "; if a source spells a unit otherwise, add it with --aliases FILE --replace"
        )
    typer.echo(
        f"written to {folder / (defined.country + '.json')}; "
        f"ingest a file with {defined.country} rows to make its series"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(countries_app, name="countries")
