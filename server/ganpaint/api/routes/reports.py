"""GET /reports/{model_id}/{path}: the static dissection report in precomputed/<model_id>/report/."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ganpaint.api.deps import EngineDep
from ganpaint.engine import NotFoundError
from ganpaint.models import check_model_id

router = APIRouter(prefix="/reports", tags=["reports"])
MEDIA_TYPES = {".html": "text/html", ".png": "image/png", ".json": "application/json", ".css": "text/css"}


@router.get("/{model_id}/{path:path}", response_class=FileResponse)
def read_report_file(model_id: str, path: str, engine: EngineDep) -> FileResponse:
    """A file of the report (``index.html`` by default); never anything outside the report folder."""
    try:
        check_model_id(model_id)
    except ValueError as exc:
        raise NotFoundError(f"model_id: {exc}") from exc
    missing = NotFoundError(f"path: no report file {path[:200]!r} for model {model_id!r}")
    if "\x00" in path:  # no file has one (the OS would refuse the name: "embedded null byte")
        raise missing
    root = (engine.precomputed_dir / model_id / "report").resolve()
    try:
        target = (root / (path or "index.html")).resolve()
        media_type = MEDIA_TYPES.get(target.suffix)
        if not target.is_relative_to(root) or media_type is None or not target.is_file():
            raise missing
    except (OSError, ValueError) as exc:  # a name too long, or one the OS refuses
        raise missing from exc
    return FileResponse(target, media_type=media_type)
