"""/redoc without the internet: ReDoc from the fastapi-offline package, its one link out replaced.

fastapi-offline serves Swagger UI (/docs) and ReDoc from the package, not a CDN; Swagger UI then asks nothing
of the internet, but ReDoc's bundle shows the "API docs by Redocly" logo from ``LOGO_URL``. ``install_redoc``
serves /redoc itself with that bundle, the logo's address replaced by ``BLANK_LOGO`` (an empty picture in the
bundle itself), at ``BUNDLE_PATH``; the link's words stay. tests/test_browser.py fails on any request
/docs or /redoc make outside the server.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_LOGO = "data:image/svg+xml,%3Csvg%20xmlns%3D%27http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%27%2F%3E"
BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
BUNDLE_PATH = "/redoc-offline/redoc.standalone.js"
FAVICON_PATH = "/static-offline-docs/favicon.png"  # fastapi-offline's own mount


@lru_cache(maxsize=1)
def offline_bundle() -> bytes:
    """The package's ReDoc bundle with the logo's address replaced (read once)."""
    return BUNDLE.read_bytes().replace(LOGO_URL.encode(), BLANK_LOGO.encode())


def install_redoc(app: FastAPI, url: str = "/redoc") -> None:
    """GET ``url``: ReDoc on this app's OpenAPI document, from ``offline_bundle`` (build the app with
    ``FastAPIOffline(redoc_url=None)`` so the package's own /redoc does not shadow it)."""

    @app.get(url, include_in_schema=False)
    async def read_redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{BUNDLE_PATH}",
            with_google_fonts=False,
            redoc_favicon_url=f"{root}{FAVICON_PATH}",
        )

    @app.get(BUNDLE_PATH, include_in_schema=False)
    def read_redoc_bundle() -> Response:
        return Response(
            offline_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"}
        )
