"""The websocket's origin policy: which browser pages may open /ws/paint (no Origin, the same site, localhost,
or ``ws_origins``); a refused address is noted (its next connections wait) and logged once a minute."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from ganpaint.api.guards.refusals import RecentAddresses, RefusalLog
from ganpaint.values import short_repr

log = logging.getLogger("ganpaint")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def origin_allowed(origin: str | None, host: str | None, extra: str = "") -> bool:
    """No Origin (not a browser), the same host:port as the request, localhost, or one of ``extra``
    (comma-separated origins such as ``https://paint.example.org``; ``*`` allows any)."""
    if origin is None:
        return True
    allowed = {o.strip().rstrip("/") for o in extra.split(",") if o.strip()}
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
        netloc = parts.netloc
    except ValueError:
        return False
    if hostname in LOCAL_HOSTS:
        return True
    if not host:
        return False
    if netloc.lower() == host.lower():
        return True
    # a proxy that forwards Host without the port (nginx's $host): the same host name is the same site
    try:
        bare = urlsplit(f"//{host}")
        return bare.port is None and bare.hostname == hostname
    except ValueError:
        return False


class OriginPolicy:
    """``refusal(origin, host, address)``: None if the websocket may open, else the detail to answer 403 with
    (the address noted in ``refused``, and logged at most once a minute per address)."""

    def __init__(self, extra: str, refused: RecentAddresses):
        self.extra = extra
        self.refused = refused
        self.log = RefusalLog()

    def refusal(self, origin: str | None, host: str | None, address: str) -> str | None:
        if origin_allowed(origin, host, self.extra):
            return None
        detail = f"origin: {short_repr(origin)} is not allowed (set GANPAINT_WS_ORIGINS)"
        self.refused.note(address)  # its next connections wait refusal_delay (guards/protocol.py)
        if self.log.allow(address):
            log.info("ganpaint: /ws/paint from %s refused: %s (logged once a minute per address)", address, detail)
        return detail
