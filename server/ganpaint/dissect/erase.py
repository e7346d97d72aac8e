"""The erase set of one concept: the units the erase brush zeroes (measured apart from the draw set,
``run.concept_erase``).

The draw set comes from ICLR's alpha objective, which weighs insertion and removal together; its top 20
can hold units that paint the concept well but whose ablation *adds* it elsewhere (scenes64 at 494k
images, layer6 tree: the ACE top 20 removed 45% of the tree pixels while the curve peaked at 60% with
14 units). Erasing only zeroes units, so the erase brush picks from three rankings, by the share of the
concept's pixels their top n removes:

- ``removal``: alpha optimised for the removal term alone (``optimise_alpha(objective="removal")``);
- ``ace`` and ``iou``: the draw set's two rankings.

The choice is made on selection latents that the alpha optimisation did not see (the last ``n_choice``
of the selection stream, at most those after its first ``AlphaSettings.pool``, the optimisation's), and
the chosen set is then measured on the held-out latents like every other number.
"""

from __future__ import annotations

import torch

from ganpaint.dissect.causal import ablation_effect, measure_ablation, optimise_alpha, rank_by
from ganpaint.dissect.concept import LayerData, alpha_init, rounded

ERASE_RANKINGS = ("removal", "ace", "iou")  # ties go to the earlier


def _features(d: LayerData, z: torch.Tensor, batch: int) -> torch.Tensor:
    dev = next(d.ev.f.parameters()).device
    with torch.no_grad():
        return torch.cat([d.h_fn(z[a : a + batch].to(dev)) for a in range(0, len(z), batch)])  # (N, C, h, w)


def erase_set(
    d: LayerData,
    c: int,
    n_classes: int,
    draw_sets: dict[str, dict],
    alpha_cfg,
    seed: int,
    n_choice: int,
    curve_sizes,
    n_curve: int,
) -> dict:
    """{ranking, units, removal_ranked, chosen, curve, alpha} of concept ``c``: see the module docstring.
    ``draw_sets`` holds the draw set's two rankings as measured on the held-out latents
    ({"ace": {units, removed, collateral, ...}, "iou": {...}})."""
    init = alpha_init(d.iou_iqr[:, c])
    alpha, info = optimise_alpha(
        d.h_fn, d.ev, d.z_sel, d.lab_sel, c, d.k_all[:, c], init, alpha_cfg, seed, objective="removal"
    )
    longest = min(max([d.n_top, *curve_sizes]), len(alpha))
    order = rank_by(alpha, d.iou_iqr[:, c], longest)
    rankings = {"removal": order[: d.n_top], **{n: v["units"] for n, v in draw_sets.items()}}

    def removal(r, labels, units) -> dict:
        return ablation_effect(measure_ablation(d.ev, r, labels, units, n_classes), c)

    n_choice = min(n_choice, len(d.z_sel) - alpha_cfg.pool)  # the optimisation saw z_sel[: pool]
    if n_choice <= 0:
        raise ValueError(f"erase set: no selection latents after the alpha pool of {alpha_cfg.pool}")
    r_choice = _features(d, d.z_sel[-n_choice:], d.ev.batch)
    lab_choice = d.lab_sel[-n_choice:]
    on_choice = {name: removal(r_choice, lab_choice, units)["removed"] for name, units in rankings.items()}
    chosen = max(ERASE_RANKINGS, key=lambda n: (on_choice[n], -ERASE_RANKINGS.index(n)))

    abl = removal(d.r_held, d.lab_held, rankings["removal"])
    removal_ranked = {"units": rankings["removal"], **{k: rounded(abl[k]) for k in ("removed", "collateral")}}
    chosen_numbers = removal_ranked if chosen == "removal" else draw_sets[chosen]
    r_curve, lab_curve = d.r_held[:n_curve], d.lab_held[:n_curve]
    curve = [  # [size, removed]: ablation only (the erase brush never inserts)
        [size, rounded(removal(r_curve, lab_curve, order[:size])["removed"])]
        for size in curve_sizes
        if size <= len(order)
    ]
    return {
        "ranking": chosen,
        "units": rankings[chosen],
        "removal_ranked": removal_ranked,
        "chosen": {
            "ranking": chosen,
            "removed": chosen_numbers["removed"],
            "collateral": chosen_numbers["collateral"],
            "choice": {"latents": n_choice, "removed": {n: rounded(v) for n, v in on_choice.items()}},
        },
        "curve": curve,
        "alpha": {**info, "top": [[int(u), rounded(alpha[u])] for u in order[: d.n_top]]},
    }
