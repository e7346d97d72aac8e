"""``ganpaint dissect --artifacts``: rank one layer's artifact units (``dissect.artifacts``), print the worst,
refresh the report. Kept apart from ``artifacts`` so that the report (which draws the ranking) and the ranking
do not import each other."""

from __future__ import annotations

import json
import time

from ganpaint.dissect.artifacts import ArtifactSettings, rank_layer
from ganpaint.dissect.report import write_report


def run_artifacts(ctx, layers: list[str], samples: int, top: int, report: bool = True) -> dict:
    """``ganpaint dissect --artifacts``: rank one layer, print its worst units, refresh the report (if the model
    has a dissection summary); returns the document."""
    if len(layers) != 1:
        raise ValueError(f"--artifacts: one layer at a time (--layer), got {', '.join(layers)}")
    if samples < 2 or not 2 <= top <= samples:
        raise ValueError(f"--artifact-top: expected 2..--artifact-samples ({samples}), got {top}")
    t0 = time.time()
    s = ArtifactSettings(samples=samples, top=top, seed=ctx.settings.seed, batch=ctx.settings.batch)
    doc = rank_layer(ctx, layers[0], s)
    summary_path = ctx.out_dir / ctx.model_id / "summary.json"
    if report and summary_path.is_file():
        write_report(ctx, json.loads(summary_path.read_text()))
    rows = [f"{u} FD {doc['units'][u]['fd']:.1f} z {doc['units'][u]['z']:.1f}" for u in doc["ranking"][: doc["k"]]]
    print(f"{layers[0]}: worst {doc['k']} of {doc['units_in_layer']} units: {'; '.join(rows)}")
    print(f"random {top} samples: FD {doc['random_top_fd']:.1f}; all samples: {doc['all_samples_fd']:.1f}")
    print(f"wrote {ctx.out_dir / ctx.model_id / 'artifacts.json'} ({time.time() - t0:.0f} s)")
    return doc
