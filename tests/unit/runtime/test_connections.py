"""The private aiohttp surface ``runtime.connections`` relies on still exists in the installed
aiohttp (an upgrade that renames it fails here, by name, not as a hang in production)."""

from __future__ import annotations

from aiohttp import web, web_protocol

from logistica_workers.runtime.connections import PRIVATE_SURFACE


async def test_every_private_name_exists_in_the_installed_aiohttp() -> None:  # a running loop
    server = web.Server(lambda _request: web.Response())  # type: ignore[arg-type,return-value]
    handler = server()
    instances = {
        "RequestHandler": handler,
        "Server": server,
        "AppRunner": web.AppRunner(web.Application()),
    }
    missing = [
        f"{cls}.{name}"
        for cls, names in PRIVATE_SURFACE.items()
        for name in names
        if not hasattr(instances[cls], name)
    ]
    assert missing == []
    assert isinstance(handler, web_protocol.RequestHandler)
