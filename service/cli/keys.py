"""`threatcast keys`: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.support import fail, open_engine
from service.keys import ROLES, ApiKeyError, create_key, list_keys, revoke_key

keys_app = typer.Typer(help="API keys for the HTTP API (stored hashed).", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the key; shown in audit trails.")],
    role: Annotated[
        str, typer.Option(help="reader (read forecasts) or admin (change state).")
    ] = "reader",
) -> None:
    """Create a key. The key is printed once; only its hash is stored."""
    if role not in ROLES:
        raise fail(f"--role {role!r}: use reader or admin", 2)
    try:
        key, token = create_key(open_engine(ctx), name, role)
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"created {key.role} key {key.name!r}; store it now, it will not be shown again:")
    typer.echo(token)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Every key: name, role, prefix, created, last used, revoked."""
    listed = list_keys(open_engine(ctx))
    if not listed:
        typer.echo("no API keys yet; `threatcast keys create --name NAME --role reader|admin`")
        return
    for key in listed:
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        typer.echo(
            f"{key.name:<24} {key.role:<7} {key.prefix}...  created {key.created_at:%Y-%m-%d}  used {used}  {state}"
        )


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a key at once; requests with it get 401."""
    try:
        revoke_key(open_engine(ctx), name)
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"revoked key {name!r}")
