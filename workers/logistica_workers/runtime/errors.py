"""Error responses of every HTTP endpoint: JSON ``{"error": CODE, "message": TEXT, ...}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
    close: bool = False,
    **extra: object,
) -> web.Response:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if close:
        headers["Connection"] = "close"
    return web.json_response(
        {"error": code, "message": message, **extra}, status=status, headers=headers
    )


@web.middleware
async def json_errors(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """aiohttp's own errors (404 route, 405 method) as JSON bodies too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        resp = error_response(exc.status, code, exc.reason)
        if "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
