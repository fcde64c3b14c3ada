"""`playingpack tapes resend`: send a tape's request again, compare the new answer with the
tape's, and keep it as the tape when asked.

The command serves the folder for a moment, as `start` would (same upstream, same tapes, no
history, on a free loopback port), and asks that server through its API: the resend takes the
path every call takes, so it is converted, checked and (with --keep) saved as any call is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click

from playingpack.config import Config, ReplayTiming
from playingpack.tape_commands import location_options, resolved, tapes_config

# How long the resend may take, answer included.
_SECONDS = 600


class _Failed(click.ClickException):
    """A resend that could not be made or answered: exit status 2, as diff(1) has for trouble."""

    exit_code = 2


@click.command("resend")
@location_options
@click.option(
    "--to",
    type=click.Choice(["upstream", "tape"]),
    default="upstream",
    show_default=True,
    help="Where the answer comes from: the upstream (in any record mode; nothing is "
    "recorded unless --keep), or the tapes (to see what replaying it gives a client).",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Save the upstream's new answer as this tape (its meta.origin becomes `resent`).",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="A header to send (repeatable). By default the key comes from OPENAI_API_KEY, or "
    "ANTHROPIC_API_KEY for /v1/messages tapes.",
)
@click.argument("tape")
def tapes_resend(
    tape: str, to: str, keep: bool, headers: tuple[str, ...], **given: Path | None
) -> None:
    """Send a tape's request again and compare the answer with the tape's.

    Exits 0 when the new answer is the same, 1 when it differs (like diff), 2 on errors.
    """
    if keep and to == "tape":
        raise click.UsageError("--keep keeps an upstream answer: drop it, or use --to upstream")
    config = tapes_config(**given)
    try:
        found = resolved(config.tapes_dir, tape)
    except click.UsageError:
        raise
    except click.ClickException as exc:
        raise _Failed(exc.message) from None
    given_headers = _parsed_headers(headers)
    same = asyncio.run(_resend(config, found[0].key, to, keep, given_headers))
    sys.exit(0 if same else 1)


async def _resend(config: Config, key: str, to: str, keep: bool, headers: dict[str, str]) -> bool:
    import aiohttp
    import msgspec

    from playingpack.app import start_server
    from playingpack.diff_commands import format_diff
    from playingpack.wire_diff import DiffJSON

    # A tape's recorded pauses would only slow the command down.
    served = dataclasses.replace(
        config,
        host="127.0.0.1",
        port=0,
        headless=True,
        history=None,
        replay_timing=ReplayTiming.INSTANT,
    )
    server = await start_server(served)
    try:
        async with aiohttp.ClientSession(
            server.url, timeout=aiohttp.ClientTimeout(total=_SECONDS)
        ) as session:
            tape = await _json(session, "GET", f"/api/tapes/{key}")
            sent = {**_credentials(tape["meta"].get("endpoint", "")), **headers}
            flow = await _json(
                session,
                "POST",
                f"/api/tapes/{key}/resend",
                params={"wait": "true"},
                json={"to": to, "headers": sent},
            )
            if flow["state"] != "COMPLETE":
                raise _Failed(f"the resend failed: {flow['error']}")
            found = await _json(
                session, "GET", "/api/diff", params={"a": f"tape:{key}", "b": flow["id"]}
            )
            compared = msgspec.convert(found, DiffJSON)
            click.echo(format_diff(compared, color=sys.stdout.isatty()))
            if keep:
                kept = await _json(
                    session, "POST", f"/api/flows/{flow['id']}/keep", json={"for": "parent"}
                )
                click.echo(f"\nkept as tape {kept['key']} (origin {kept['origin']})")
            return bool(compared.request.same and compared.answer.same)
    finally:
        await server.stop()


async def _json(session: Any, method: str, path: str, **options: Any) -> dict[str, Any]:
    """The JSON answer of the server; raises ClickException with its error message."""
    async with session.request(method, path, **options) as answer:
        body: dict[str, Any] = await answer.json(content_type=None)
        if answer.status >= 400:
            raise _Failed(body.get("error", {}).get("message", str(body)))
        return body


def _credentials(endpoint: str) -> dict[str, str]:
    """The key from the environment, as the SDKs read it."""
    if endpoint == "/v1/messages":
        key = os.environ.get("ANTHROPIC_API_KEY")
        return {"x-api-key": key} if key else {}
    key = os.environ.get("OPENAI_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _parsed_headers(headers: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(f"{header!r} is not 'NAME: VALUE'", param_hint="--header")
        parsed[name.strip()] = value.strip()
    return parsed
