"""Erase that shows what was behind (issue 33): the generator repaints an erased region from what surrounds it.

GANPaint's erase sets a concept's erase units to 0 where one paints; what the generator then draws there is
whatever those zeros mean to its later layers: on this model blobs of the object's own colour, speckle, and the
object's silhouette. The fill erase (``"method": "fill"``, the default) instead

1. takes the feature cells the stroke touches at its layer (the hole) and fills every unit there from the
   cells around it (a harmonic fill: the membrane that continues the surroundings), then
2. fits those hole features for a few steps so that the generator's render agrees with the picture on the
   known pixels around the region (the parts of the hole's cells outside the stroke and a ring around it),
   near the harmonic start and smooth inside the stroke, with the concept's first erase units held at 0 in the
   hole, and with the model's segmenter seeing there what it sees around the stroke, not the concept
   (leftover.py) (fit.py; a stroke still being drawn gets step 1 alone: ``Fills.quick``), and
3. on an upload, keeps the picture's own pixels outside the stroke and sews the region in (seam.py, upload.py).

    edits = [FillErase(layer, units, 0.0, 1.0, mask)]     # unresolved: GANPaint's erase, exactly
    edits = fills.resolve(edits, r, tail, target)         # resolved: all units, the fitted value map

Measured against the true background on held-out scenes in docs/erase.md; ``bench/erase_truth.py`` makes the
numbers.
"""

from ganpaint.erase.edit import FillErase, Fills, fill_region
from ganpaint.erase.fit import FillSettings, fit_fill, harmonic_fill, hole_cells
from ganpaint.erase.leftover import Leftover
from ganpaint.erase.seam import seamless

__all__ = [
    "FillErase",
    "FillSettings",
    "Fills",
    "Leftover",
    "fill_region",
    "fit_fill",
    "harmonic_fill",
    "hole_cells",
    "seamless",
]
