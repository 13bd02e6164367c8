"""Web push commands: ``vapid-keys`` and ``push-token``."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatcher.cli.main import app, err_console


@app.command("vapid-keys")
def vapid_keys() -> None:
    """Print a new VAPID key pair for web push.

    Put the private key in the environment (never in config.yaml) and reference it as
    ``vapid_private_key: ${VAPID_PRIVATE_KEY}``; browsers subscribe with the public key
    as ``applicationServerKey`` (GET /push/key serves it).
    """
    from channels.webpush_vapid import generate_key_pair

    pair = generate_key_pair()
    # Plain echo, not rich: a wrapped key would be copied broken.
    typer.echo(f"VAPID_PRIVATE_KEY={pair.private_key}")
    typer.echo(f"VAPID_PUBLIC_KEY={pair.public_key}")
    typer.echo("# applicationServerKey for PushManager.subscribe() is VAPID_PUBLIC_KEY.\n"
               "# Changing the key pair invalidates every existing subscription.")


@app.command("push-token")
def push_token(customer: Annotated[str, typer.Argument(help="Customer id")]) -> None:
    """Print a subscribe token for CUSTOMER (signed with DISPATCHER_SECRET)."""
    from dispatcher.links import secret_is_default
    from dispatcher.push.tokens import make_subscribe_token

    if secret_is_default():
        err_console.print("warning: DISPATCHER_SECRET is not set; this token uses the "
                          "development secret", style="yellow", markup=False)
    typer.echo(make_subscribe_token(customer))
