"""One error shape for every bad input: ``{"detail": "<field path>: <what is wrong>, got <value>"}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ganpaint.api.guards.admission import BusyError
from ganpaint.api.upload_body import BodyRefused
from ganpaint.engine import NotFoundError
from ganpaint.project.images import PictureTooLarge
from ganpaint.values import short_repr


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'strokes', 0, 'strength') -> 'strokes[0].strength'."""
    parts = [p for p in loc if p not in ("body", "query", "path")]
    # pydantic names union members in the location ('str', 'dict[str,any]', 'function-after[...]'); drop them
    parts = [p for p in parts if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "list")))]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def format_errors(errors: Sequence[dict]) -> str:
    """The first pydantic error as one sentence naming the field and quoting the value."""
    err = errors[0]
    where = field_path(err.get("loc", ()))
    if err.get("type") == "missing":
        return f"{where}: Field required"
    if err.get("type") == "json_invalid":
        return f"body: invalid JSON ({err.get('ctx', {}).get('error', err.get('msg'))})"
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        return f"{where}: unknown field"
    return f"{where}: {msg}, got {short_repr(err.get('input'))}"


def refusal(exc: Exception, request: Request, close: bool = False) -> JSONResponse:
    """The answer to an exception that refuses a request: 503 busy (Retry-After, always closing: a client that
    ignores Retry-After on a kept-alive connection pays a new connection each time, which its address's refusal
    delay then holds, api/guards/protocol.py), 404 unknown, 413 too large, 422 bad value; ``close``: also close."""
    headers = {"Connection": "close"} if close else {}
    if isinstance(exc, BusyError):
        refused = request.app.state.guards.refused
        refused.note(request.client.host if request.client else None)  # its next connections wait
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": "1", "Connection": "close"})
    status = 404 if isinstance(exc, NotFoundError) else 413 if isinstance(exc, PictureTooLarge) else 422
    return JSONResponse({"detail": str(exc)}, status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": format_errors(exc.errors())}, status_code=422)

    @app.exception_handler(NotFoundError)
    @app.exception_handler(BusyError)
    @app.exception_handler(ValueError)  # PictureError and PictureTooLarge too
    async def _refused(request: Request, exc: Exception) -> JSONResponse:
        return refusal(exc, request)

    @app.exception_handler(BodyRefused)
    async def _refused_unread(request: Request, exc: BodyRefused) -> JSONResponse:
        return refusal(exc.cause, request, close=True)  # the rest of its body is never read

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body json cannot read (not UTF-8, nested too deep, a 5000-digit integer)
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "unreadable"
            return JSONResponse({"detail": f"body: cannot be read as JSON ({cause})"}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not bad input: the client gets the app's shape, not plain text (Starlette re-raises: the log
        # keeps the traceback)
        return JSONResponse({"detail": f"server: internal error ({type(exc).__name__})"}, status_code=500)


def nesting_depth(value: Any, limit: int) -> int:
    """How deep lists and dicts nest in ``value`` (a scalar: 1), counted without recursion; stops past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, depth + 1) for x in v)
    return deepest
