"""Segmenter labels -> ganpaint brush names, so a brush keeps its name across models and segmenters.

ganpaint's brushes are the scene world's concepts (``ganpaint.scenes.NAMES``: sky cloud mountain grass
earth tree building brick roof door window dome tower water). A real segmenter has its own label table
(ADE20K's 150 classes for the Hugging Face SegFormer/UperNet checkpoints). ``brush_name`` maps one label;
``merge_table`` maps a whole label table to the merged class list a segmenter adapter exposes (the
probabilities of labels that map to the same name are summed).

- Labels listed in ``ADE20K_TO_BRUSH`` take the brush name ('windowpane' -> 'window', 'sea' -> 'water').
- Every other label keeps its own name, normalised (first synonym, lower case): 'person', 'plant', 'fence'.
  Dissection may find units for them too; they are offered under that name.
- Brushes the segmenter cannot see are simply not offered: ADE20K's 150 classes have no cloud, brick,
  roof or dome, so a model dissected with an ADE20K segmenter has no such brush.

Deliberate choices (ADE20K): 'plant' (shrubs, potted plants) stays 'plant' rather than diluting 'tree';
'rock', 'sand', 'sidewalk', 'field' keep their names (field is not always grass); 'road', 'path',
'dirt track' and 'land' join 'earth', as do the scene world's paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# normalised ADE20K label -> ganpaint brush name (labels not listed keep their own name)
ADE20K_TO_BRUSH: dict[str, str] = {
    "sky": "sky",
    "mountain": "mountain",
    "hill": "mountain",
    "grass": "grass",
    "earth": "earth",
    "ground": "earth",
    "path": "earth",
    "road": "earth",
    "dirt track": "earth",
    "land": "earth",
    "tree": "tree",
    "palm": "tree",
    "building": "building",
    "house": "building",
    "skyscraper": "building",
    "hovel": "building",
    "door": "door",
    "double door": "door",
    "windowpane": "window",
    "window": "window",
    "tower": "tower",
    "water": "water",
    "sea": "water",
    "river": "water",
    "lake": "water",
}


def normalise_label(label: str) -> str:
    """'windowpane;window' / 'Windowpane, window ' / 'bed ' -> 'windowpane' / 'bed' (first synonym, lower)."""
    first = str(label).replace(";", ",").split(",")[0]
    return " ".join(first.strip().lower().split())


def brush_name(label: str, table: Mapping[str, str] = ADE20K_TO_BRUSH) -> str:
    """The ganpaint name of a segmenter label: its brush name if the table has one, else the label itself.

    Every synonym of a CSAIL-style label ('door;double;door', 'windowpane, window') is tried in order.
    """
    synonyms = [" ".join(s.strip().lower().split()) for s in str(label).replace(";", ",").split(",")]
    for s in synonyms:
        if s in table:
            return table[s]
    return normalise_label(label)


def merge_table(
    labels: Sequence[str], table: Mapping[str, str] | None = ADE20K_TO_BRUSH
) -> tuple[list[str], list[int]]:
    """(merged names in first-appearance order, group index of each label).

    ``table=None`` keeps every label as is (normalised; duplicates after normalisation still merge).
    """
    names: list[str] = []
    groups: list[int] = []
    for label in labels:
        name = brush_name(label, table) if table is not None else normalise_label(label)
        if not name:
            raise ValueError(f"segmenter label {label!r}: empty after normalisation")
        if name not in names:
            names.append(name)
        groups.append(names.index(name))
    return names, groups
