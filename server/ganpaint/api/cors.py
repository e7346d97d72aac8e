"""What a client served from elsewhere needs at the door: CORS whose refusals say nothing of the policy, and
paths the original GANPaint client builds from an ``api=`` prefix with a trailing slash.

- ``CORS``: Starlette's CORSMiddleware (``GANPAINT_CORS_ORIGINS``), except that a refused preflight (400) carries
  no ``Access-Control-*`` header at all (Starlette's still lists the allowed methods, headers and max-age) and
  its body is ``{"detail"}`` naming the refused request header and its value.
- ``LeadingSlashes``: a path that starts with several slashes is routed as if it had one. The client joins its
  ``api=`` parameter and ``/api/...`` as strings, so ``api=http://host:8000/`` requests ``//api/all_projects``.
  Outermost, so every other middleware and route sees the one-slash path.
"""

from __future__ import annotations

from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

REFUSED = {  # Starlette's failure word -> the request header it is about
    "origin": ("Origin", "is not in GANPAINT_CORS_ORIGINS"),
    "method": ("Access-Control-Request-Method", "is not allowed"),
    "headers": ("Access-Control-Request-Headers", "names a header that is not allowed"),
    "private-network": ("Access-Control-Request-Private-Network", "is not allowed"),
}


class CORS(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        words = response.body.decode().removeprefix("Disallowed CORS ").split(", ")
        details = []
        for word in words:
            header, problem = REFUSED.get(word, ("CORS preflight", "was refused"))
            allowed = f" (allowed: {', '.join(self.allow_methods)})" if word == "method" else ""
            details.append(f"{header}: {request_headers.get(header, word)!r} {problem}{allowed}")
        keep = {k: v for k, v in response.headers.items() if k.lower() == "vary"}
        return JSONResponse({"detail": "; ".join(details)}, status_code=400, headers=keep)


class LeadingSlashes:
    """ASGI middleware: ``//api/x`` (any run of leading slashes) is routed as ``/api/x``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith("//"):
            scope = {**scope, "path": "/" + scope["path"].lstrip("/")}
            if isinstance(scope.get("raw_path"), bytes):
                scope["raw_path"] = b"/" + scope["raw_path"].lstrip(b"/")
        await self.app(scope, receive, send)
