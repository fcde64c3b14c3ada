"""Serves the built dashboard from static/, with index.html for every other page path."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from playingpack.access import Access

STATIC = Path(__file__).parent / "static"

_WAITING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>playingpack</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem; line-height: 1.5">
<h1>playingpack is running</h1>
<p>Point your agent at <code>{base_url}</code>.</p>
<p>This installation carries no dashboard build; <a href="/health">/health</a> shows the
server's state.</p>
</body></html>
"""


def add_routes(app: web.Application, access: Access) -> None:
    """Serve static/ at ``/``; paths of the API, the proxy and the socket never fall back here.

    The page is behind the same access checks as the API; opened with the right ``?token=`` it
    sets the cookie that lets its own API calls through.
    """
    index = STATIC / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        refusal = access.refusal(request)
        if refusal is not None:
            return refusal
        response: web.StreamResponse
        if index.is_file():
            response = web.FileResponse(index, headers={"Cache-Control": "no-cache"})
        else:
            base_url = html.escape(f"{request.scheme}://{request.host}/v1")
            response = web.Response(
                text=_WAITING_PAGE.format(base_url=base_url), content_type="text/html"
            )
        access.remember(request, response)
        return response

    if (STATIC / "assets").is_dir():
        app.router.add_static("/assets", STATIC / "assets")
    app.router.add_get("/", page)
