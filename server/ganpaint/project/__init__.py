"""Paint on your own picture: project an image into a generator, adapt it, paint, blend (no web code).

``Projector(g, paint_layer).project(x) -> ProjectedImage``; see ``projector.py`` for the stages and
``docs/projection.md`` for the measurements that chose the settings.
"""

from ganpaint.project.projector import (
    ProjectedImage,
    Projector,
    ProjectSettings,
    blend,
    blend_mask,
    image_tensor,
    psnr,
)

__all__ = ["ProjectSettings", "ProjectedImage", "Projector", "blend", "blend_mask", "image_tensor", "psnr"]
