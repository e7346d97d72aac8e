"""Kept so routes that import ``BusyError`` or ``RenderGate`` from here keep working; the guards live in
api/guards/ (admission: api/guards/admission.py). New code imports from there."""

from ganpaint.api.guards.admission import BusyError, RenderGate

__all__ = ["BusyError", "RenderGate"]
