"""Serves the built dashboard from static/, with index.html for every other page path."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

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


def add_routes(app: web.Application) -> None:
    """Serve static/ at ``/``; paths of the API, the proxy and the socket never fall back here."""
    index = STATIC / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if index.is_file():
            return web.FileResponse(index, headers={"Cache-Control": "no-cache"})
        base_url = html.escape(f"{request.scheme}://{request.host}/v1")
        return web.Response(text=_WAITING_PAGE.format(base_url=base_url), content_type="text/html")

    if (STATIC / "assets").is_dir():
        app.router.add_static("/assets", STATIC / "assets")
    app.router.add_get("/", page)
