"""The concepts of the procedural scene world: label ids, names and display colours.

Every pixel of a rendered scene carries exactly one of these ids. The ids are stable: the
shipped segmenter, the precomputed dissections and the web palette all key on them.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    id: int
    name: str
    color: tuple[int, int, int]  # display colour for label maps and brushes (RGB)


CONCEPTS: tuple[Concept, ...] = (
    Concept(0, "sky", (110, 170, 240)),
    Concept(1, "cloud", (235, 235, 245)),
    Concept(2, "mountain", (120, 110, 150)),
    Concept(3, "grass", (80, 190, 70)),
    Concept(4, "earth", (170, 130, 80)),
    Concept(5, "tree", (20, 110, 40)),
    Concept(6, "building", (200, 190, 160)),
    Concept(7, "brick", (190, 70, 50)),
    Concept(8, "roof", (120, 50, 60)),
    Concept(9, "door", (250, 200, 30)),
    Concept(10, "window", (40, 200, 220)),
    Concept(11, "dome", (230, 110, 220)),
    Concept(12, "tower", (140, 90, 200)),
    Concept(13, "water", (20, 70, 200)),
)

NAMES: tuple[str, ...] = tuple(c.name for c in CONCEPTS)
ID: dict[str, int] = {c.name: c.id for c in CONCEPTS}
COLORS: tuple[tuple[int, int, int], ...] = tuple(c.color for c in CONCEPTS)
# Label ids that make up a building: doors and windows must lie inside their union.
BUILDING_PARTS: frozenset[int] = frozenset({ID["building"], ID["brick"], ID["tower"], ID["dome"]})
