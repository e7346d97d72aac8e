"""The picture sizes a model renders: its own resolution, and 4x that where it ships a refiner (issue 34)."""

from __future__ import annotations

from ganpaint.engine import LoadedModel


def refine_factor(m: LoadedModel) -> int | None:
    """4 where the model ships a refiner (models/<id>/refiner.pth), else None."""
    return m.refiner.factor if m.refiner is not None else None


def sizes(m: LoadedModel) -> list[int]:
    r = m.info.resolution
    return [r] + ([r * refine_factor(m)] if m.refiner is not None else [])


def wants_refined(m: LoadedModel, size: int | None, field: str = "size") -> bool:
    """False for no size or the model's resolution, True for the refined size; ValueError naming ``field``."""
    if size is None or size == m.info.resolution:
        return False
    have = sizes(m)
    if size in have:
        return True
    why = "" if m.refiner is not None else " (it ships no refiner)"
    raise ValueError(f"{field}: model {m.id!r} renders {' or '.join(map(str, have))} px{why}, got {size}")
