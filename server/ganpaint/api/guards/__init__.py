"""The guards: every layer that protects the server from what clients send, in one package, built once per app
from its one ``Settings`` (``Guards(settings, foreground)``; ``app.state.guards``).

A request crosses them in this order (outermost first); each refuses with ``{"detail": ...}`` JSON:

1. **protocol** (``ganpaint serve`` only; protocol.py): connection caps (503), the refusal delay for an address
   refused a moment ago, the header read timeout, unparsable requests (400), and shedding on the raw head
   when CORS is off.
2. **leading slashes** (api/cors.py): ``//api/x`` routed as ``/api/x`` (not a refusal).
3. **CORS** (api/cors.py; only with ``cors_origins``): preflights, and the headers on every answer below.
4. **body timeout** (limits.py): 408 when a body has not arrived within ``body_timeout``.
5. **shedding** (shedding.py): 503 unread for a big POST to a route that ``@carries_masks`` while the large
   mask lane is busy.
6. **drain** (drain.py): 503 for new requests once SIGTERM arrived.
7. **body limit** (limits.py): 413 over ``max_body_bytes`` (or a route's own limit, ``@reads_body_itself``).
8. the route: **origin policy** (origin.py) and connection cap for /ws/paint; **admission** (admission.py:
   ``render_gate`` for REST images) and the **mask lanes** (lanes.py: masks costed, admitted, decoded off the
   event loop) for routes that paint; uploads admit bodies and projections (api/upload_body.py, uploads.py).

A websocket (/ws/paint) crosses 1-3, then its route: the origin policy, the drain and the connection cap
(api/ws.py); each message is then checked there (size, JSON; updates superseded, latest wins) and its
masks go to the lanes.

Every 503 busy notes the client's address in the **refusal log** (refusals.py, ``refused``): its next
connections wait ``refusal_delay`` in the protocol (1).

Add a guard: a module here, its object built in ``Guards.__init__`` from settings, its middleware placed in
``install`` at its place in the list above, and a line in that list.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from ganpaint.api.cors import CORS, LeadingSlashes
from ganpaint.api.guards.admission import BusyError, RenderGate
from ganpaint.api.guards.drain import Drain, Draining
from ganpaint.api.guards.lanes import MaskLanes
from ganpaint.api.guards.limits import BodyLimit, BodyTimeout
from ganpaint.api.guards.origin import OriginPolicy
from ganpaint.api.guards.protocol import GUARDS_STATE
from ganpaint.api.guards.refusals import RecentAddresses, RefusalLog
from ganpaint.api.guards.shedding import Shed, ShedWhenBusy
from ganpaint.api.settings import Settings
from ganpaint.priority import Foreground

__all__ = ["GUARDS_STATE", "BusyError", "Guards"]


class Guards:
    """The app's protective layers and their state (see the module docstring for the order)."""

    def __init__(self, settings: Settings, foreground: Foreground | None = None):
        self.settings = settings
        self.cors_origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        self.refused = RecentAddresses()  # addresses refused a moment ago (the protocol holds their next connections)
        self.cap_log = RefusalLog()  # connection-cap refusals: one log line per address a minute
        self.origin = OriginPolicy(settings.ws_origins, self.refused)
        # the baseline reproduces the original server, which queued every request without a cap
        self.render_gate = RenderGate(1 << 30 if settings.baseline else settings.max_rest_images)
        self.lanes = MaskLanes(settings.max_mask_backlog, foreground)
        self.shed = Shed(self.lanes)
        self.drain = Drain()
        # with CORS on, the middleware sheds (its 503s then carry the CORS headers a browser needs); else the
        # protocol does, before parsing
        self.protocol_sheds = not self.cors_origins
        self.streamed: dict[str, int] = {}  # paths whose route reads its body itself -> its limit

    def learn_routes(self, routers: Iterable[APIRouter]) -> None:
        """Collect what the routes declare: ``@carries_masks`` (shedding) and ``@reads_body_itself``."""
        masks, streamed = set(), {}
        for route in (r for router in routers for r in router.routes):
            endpoint = getattr(route, "endpoint", None)
            if getattr(endpoint, "carries_masks", False):
                masks.add(route.path)
            limit = getattr(endpoint, "reads_body_itself", None)
            if limit is not None:
                streamed[route.path] = getattr(self.settings, limit)
        self.shed.paths = frozenset(masks)
        self.streamed = streamed

    def install(self, app: FastAPI, routers: Iterable[APIRouter]) -> None:
        """The middlewares, in the docstring's order (added innermost first), for the app serving ``routers``."""
        self.learn_routes(routers)
        app.add_middleware(BodyLimit, limit=self.settings.max_body_bytes, streamed=self.streamed)
        app.add_middleware(Draining, drain=self.drain)
        app.add_middleware(ShedWhenBusy, shed=self.shed, refused=self.refused)
        app.add_middleware(BodyTimeout, timeout=self.settings.body_timeout)
        if self.cors_origins:  # around the others, so refusals (413, 503) carry the headers too; websockets pass
            allow = ["*"] if "*" in self.cors_origins else self.cors_origins
            app.add_middleware(
                CORS,  # Starlette's, whose refused preflights carry no CORS headers (api/cors.py)
                allow_origins=allow,
                allow_methods=["GET", "HEAD", "POST"],
                allow_headers=["Content-Type"],
                max_age=600,
            )
        app.add_middleware(LeadingSlashes)  # the original client with api=<url>/ asks //api/...: outermost of all

    def lifespan_state(self) -> dict:
        """What the lifespan yields: the protocol (``ganpaint serve``) finds the app's guards there."""
        return {GUARDS_STATE: self}

    def close(self) -> None:
        self.lanes.close()
