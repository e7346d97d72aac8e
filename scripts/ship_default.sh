#!/usr/bin/env bash
# How the embedded default models/scenes64 + precomputed/scenes64 are (re)made from a training run.
# Assumes data/scenes64 (ganpaint scenes render --n 40000 --size 64 --out data/scenes64), a GAN run in
# runs/gan64 (ganpaint train gan ...) and models/scenes64/segmenter.pth (ganpaint train segmenter ...).
# Two chains run side by side, one thread each (2 cores): dissections, and the evaluation after the second.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE
RUN=${RUN:-runs/gan64}
ganpaint train pack --run "$RUN" --out models/scenes64/train_state.pt
ganpaint train export --run "$RUN" --out models/scenes64
ganpaint train critic --state models/scenes64/train_state.pt --out models/scenes64/discriminator.pth
rm -f precomputed/scenes64/summary.json  # a new generator: every layer is dissected again below
# the candidate painting layers with the full settings and erase sets, the others with fewer samples and
# curve points and no erase sets (their brushes erase with the draw units)
reduced=(--samples 300 --heldout 40 --curve-sizes 1,2,5,10,20,40 --erase-choice 0)
dissect() { ganpaint dissect --model scenes64 --threads 1 --no-progress "$@"; }
evaluate() { ganpaint evaluate --model scenes64 --n 5000 --threads 1 --no-progress > runs/evaluate.log 2>&1; }
(dissect --layer layer4 --stamp-samples 3000 && for l in layer3 layer5 layer10; do dissect --layer $l "${reduced[@]}"; done) \
  > runs/dissect-a.log 2>&1 &
a=$!
(dissect --layer layer6 --stamp-samples 3000 && for l in layer7 layer8 layer9; do dissect --layer $l "${reduced[@]}"; done && evaluate) \
  > runs/dissect-b.log 2>&1 &
b=$!
wait $a
wait $b
python - <<'PY'
import json
summary = json.load(open("precomputed/scenes64/summary.json"))
meta = json.load(open("models/scenes64/model.json"))
meta["default_layer"] = summary["default_layer"]
open("models/scenes64/model.json", "w").write(json.dumps(meta, indent=1) + "\n")
print("default painting layer:", summary["default_layer"], "of", list(summary["layers"]))
PY
# stamps (written by each dissection) against the classic brush at the default layer: numbers, the measured
# default mode per concept, and the example grids of the card (about 15 min on 2 threads)
ganpaint stamps evaluate --model scenes64 --threads 2 --no-progress --figures docs/img --all-styles
echo "done: models/scenes64/metrics.json, precomputed/scenes64/ (stamps-eval-*.json), docs/img/stamps-*.png"
