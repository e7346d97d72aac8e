"""``precomputed/<model_id>/summary.json``: every dissected layer's ``layer_summary`` and the default painting
layer chosen from them (``run.dissect_layers`` merges the layers under a file lock and calls ``write_summary``)."""

from __future__ import annotations

import json

from ganpaint.nn.proggan import layer_index


def _heldout(layer_summary: dict) -> int:
    return int(layer_summary.get("samples", {}).get("heldout", 0))


def choose_layer(summaries: dict[str, dict]) -> tuple[str, str]:
    """The layer with the best mean concept score (0.5*(removal - collateral) of its erase set + 0.5*(insertion
    gain - spill) of its draw set, over concepts covering >= 0.5% of pixels); ties go to the earlier layer. Only
    layers measured on the most held-out latents compete (a layer dissected with fewer samples is noisier)."""
    most = max(_heldout(v) for v in summaries.values())
    candidates = [n for n, v in summaries.items() if _heldout(v) == most]
    best = max(candidates, key=lambda n: (summaries[n]["score"], -layer_index(n)))
    others = [n for n in summaries if n not in candidates]
    plain = [n for n, v in summaries.items() if v.get("erase_sets") is False]  # (older summaries: unknown)
    why = (
        f"{best} has the highest mean brush score {summaries[best]['score']:.3f} "
        "(per concept: 0.5*(share of its pixels removed by ablating its erase units - share of other pixels changed) "
        "+ 0.5*(window gain of insertion at its draw value - spill outside the window)); scores: "
        + ", ".join(f"{n} {v['score']:.3f}" for n, v in summaries.items())
        + (f" (not candidates, fewer held-out latents than {most}: {', '.join(others)})" if others else "")
        + (f" (no erase sets, scored by their draw units' removal: {', '.join(plain)})" if plain else "")
    )
    return best, why


def write_summary(ctx, summaries: dict[str, dict]) -> dict:
    """Write summary.json of ``summaries`` (layer -> layer_summary, in layer order) for ``ctx``'s model."""
    best, why = choose_layer(summaries)
    doc = {
        "model_id": ctx.model_id,
        "model_sha256": ctx.model_sha256,
        "segmenter": ctx.seg_id,
        "default_layer": best,
        "why": why,
        "layers": summaries,
        "settings": ctx.settings.to_json(),  # of the latest run; each layer's own counts are in its JSON
    }
    path = ctx.out_dir / ctx.model_id / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return doc
