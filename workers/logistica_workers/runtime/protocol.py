"""Errors aiohttp answers itself, before any handler or middleware runs (a request line or
header over its 8 KiB limit, a malformed request, an unhandled exception), as the same JSON
``{"error", "message"}`` body every endpoint documents, instead of aiohttp's text/plain."""

from __future__ import annotations

from aiohttp import http_exceptions, web, web_protocol
from aiohttp.web_request import BaseRequest

from logistica_workers.runtime.errors import error_response

_CODES = {400: "bad_request", 500: "internal_error", 504: "timeout"}


def describe(status: int, exc: BaseException | None) -> str:
    if isinstance(exc, http_exceptions.LineTooLong):
        return "the request line or a header line is too long (at most 8190 bytes)"
    if isinstance(exc, http_exceptions.BadHttpMessage):
        return f"malformed HTTP request: {type(exc).__name__}"
    if status == 504:
        return "the request took too long"
    return "internal error (logged)" if status >= 500 else "bad request"


class JsonErrorHandler(web_protocol.RequestHandler):
    """aiohttp's per-connection protocol with JSON error bodies."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if already sent
        response = error_response(status, _CODES.get(status, "http_error"), describe(status, exc))
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = JsonErrorServer  # AppRunner builds the Server; adopt it
        return server
