"""Server settings: ``ganpaint serve`` flags or ``GANPAINT_<FIELD>`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ganpaint import REPO_ROOT
from ganpaint.models import DEFAULT_MODEL_ID, default_models_dir, default_precomputed_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANPAINT_", extra="ignore", protected_namespaces=())

    models_dir: Path = Field(default_factory=default_models_dir)
    precomputed_dir: Path = Field(default_factory=default_precomputed_dir)
    model: str = DEFAULT_MODEL_ID  # the default model (loaded at startup)
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16"] = "float32"  # bf16 only where it measures faster (not on this CPU)
    threads: int = Field(0, ge=0)  # torch intra-op threads; 0 = all cores
    cache_size: int = Field(512, ge=0)  # feature maps kept per server (LRU)
    max_batch: int = Field(0, ge=0)  # websocket frames coalesced into one forward; 0 = 8 on CPU, 16 on CUDA
    baseline: bool = False  # reproduce the original GANPaint server's design (benchmarks only)
    web_dir: Path = REPO_ROOT / "web"

    # limits (docs/api.md)
    max_images: int = Field(16, ge=1)  # ids or zs per POST /generate
    max_strokes: int = Field(64, ge=1)
    max_edits: int = Field(64, ge=1)
    max_points: int = Field(2048, ge=1)
    max_stamps: int = Field(64, ge=1)  # stamps per request (all stamp strokes; a drag places one per stamp width)
    max_mask_side: int = Field(2048, ge=1)
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(1024 * 1024, ge=1024)
    max_rest_images: int = Field(32, ge=1)  # images rendering for REST requests at once per worker; past it: 503
    max_mask_pixels: int = Field(1 << 24, ge=1)  # mask decoding per request: pixels, points, runs; past it: 422
    max_mask_backlog: int = Field(1 << 25, ge=1)  # big mask decoding admitted at once per worker; past it: 503
    # uploaded pictures (docs/projection.md): POST /uploads, then paint with "upload": id
    max_upload_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # one upload's body; past it: 413
    max_upload_pixels: int = Field(25_000_000, ge=1)  # declared width x height, checked before decoding; past it: 413
    max_uploads: int = Field(64, ge=1)  # uploads kept per worker process (LRU); an evicted id answers 404
    max_projections: int = Field(6, ge=1)  # projections admitted per worker (one runs, the rest queue); past it: 503
    max_upload_bodies: int = Field(4, ge=1)  # upload bodies being received at once per worker; past it: 503 at once
    upload_spool_bytes: int = Field(256 * 1024, ge=0)  # an upload body past this many bytes waits on disk, not in RAM
    # ready uploads are also saved here (a volume shared by replicas; a restart keeps them); ganpaint serve's
    # default: data/uploads in the checkout. None: memory only
    upload_dir: Path | None = None
    max_saved_uploads: int = Field(256, ge=1)  # uploads kept in upload_dir (most recently used); older ones deleted
    upload_ttl_hours: float = Field(72.0, gt=0)  # an upload unused this long is deleted from upload_dir (404 after)

    # connections and faults (docs/reliability.md)
    max_connections: int = Field(64, ge=1)  # concurrent /ws/paint connections per worker; past it: close 1013
    ws_idle_timeout: float = Field(600.0, gt=0)  # seconds without a client message before the server closes 1001
    ws_send_timeout: float = Field(30.0, gt=0)  # seconds a frame may wait on a client that does not read
    ws_origins: str = ""  # extra allowed Origin values, comma-separated ("*" = any); same origin and localhost always
    drain_timeout: float = Field(10.0, ge=0)  # SIGTERM: seconds to finish frames in flight before closing
    # ganpaint serve facing clients directly (api/guards/protocol.py; docs/reliability.md)
    header_timeout: float = Field(10.0, gt=0)  # seconds for a request's headers to arrive; else the connection closes
    body_timeout: float = Field(30.0, gt=0)  # seconds for a request body to arrive in full; else 408
    max_header_bytes: int = Field(64 * 1024, ge=1024)  # request line + headers; past it uvicorn answers 431/400
    max_open_connections: int = Field(200, ge=1)  # HTTP + websocket connections per worker; past it 503
    # of those, from one client address; past it 503 (0: no cap, behind a proxy every client shares: nginx caps)
    max_connections_per_address: int = Field(50, ge=0)
    shutdown_timeout: float = Field(3.0, ge=0)  # SIGTERM: after the drain, seconds before open requests are cut
    refusal_delay: float = Field(0.1, ge=0, le=5)  # seconds a new connection waits unread after its address's 503

    # the original GANPaint client (docs/api.md, "Running the original GANPaint client")
    classic_image_size: int = Field(256, ge=0, le=4096)  # /api image side (its canvas); 0 = the model's own
    cors_origins: str = ""  # CORS on /api and REST: "" = off, "*" = any, or comma-separated origins
    classic_client: Path | None = None  # a downloaded client folder served read-only at /client/
