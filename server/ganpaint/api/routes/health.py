"""GET /health."""

from fastapi import APIRouter

from ganpaint.api.deps import EngineDep
from ganpaint.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
def read_health(engine: EngineDep) -> HealthResponse:
    """Liveness: the loaded models and the device."""
    return HealthResponse(status="ok", models=engine.models.loaded(), device=str(engine.device))
