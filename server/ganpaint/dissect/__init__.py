"""Dissection of a ProGAN layer: which units draw which concept, and how strongly (issue 5).

Pipeline (``run.dissect_layer``), each pass cached so a rerun resumes:

1. ``iou.layer_statistics``: streaming per-unit quantiles of the bilinearly upsampled feature map, the
   conditional-mean constants k, top-activating images, and (unit, threshold, concept) pixel counts from
   which IoU at the top-1% level (PNAS) and at the information-quality-ratio threshold (ICLR) follow.
2. ``causal``: ablation / insertion measurements on held-out latents and the alpha optimisation (ICLR
   Eq. 5-6) that gives the ACE ranking.
3. ``context``: insertion success conditioned on the class at the intervened location.
4. ``concept``: per concept, both rankings measured (ablation, insertion at each draw value, curves,
   context) and the brush chosen.
5. ``run``: writes ``precomputed/<model_id>/<layer>.json`` (``ganpaint.precomputed`` schema v1) and
   ``summary.json`` (``summary``: the default layer); ``report`` writes the static HTML report.

Beside the pipeline, ``artifacts`` (``ganpaint dissect --artifacts``) ranks a layer's units by the Frechet
distance of their top-activating samples to real renders (ICLR section 4.2) into ``artifacts.json``;
``artifact_pictures`` draws their top samples.

``common`` holds what the passes share (seeded latents, cache keys, cached JSON) and imports no other module
of ``dissect``; of those, only the CLI imports ``run``.
"""
