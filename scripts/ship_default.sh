#!/usr/bin/env bash
# How the embedded default models/scenes64 + precomputed/scenes64 are (re)made from a training run.
# Assumes data/scenes64 (ganpaint scenes render --n 40000 --size 64 --out data/scenes64), a GAN run in
# runs/gan64 (ganpaint train gan ...) and models/scenes64/segmenter.pth (ganpaint train segmenter ...).
# The dissection and the evaluation run side by side, one thread each (2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE
RUN=${RUN:-runs/gan64}
ganpaint train pack --run "$RUN" --out models/scenes64/train_state.pt
ganpaint train export --run "$RUN" --out models/scenes64
(
  # the candidate painting layers with the full settings, the others with fewer samples (time on 2 cores)
  for layer in layer6 layer4; do ganpaint dissect --model scenes64 --layer $layer --threads 1 --no-progress; done
  for layer in layer3 layer5 layer7 layer8 layer9; do
    ganpaint dissect --model scenes64 --layer $layer --samples 300 --heldout 40 --threads 1 --no-progress
  done
  python - <<'PY'
import json
summary = json.load(open("precomputed/scenes64/summary.json"))
meta = json.load(open("models/scenes64/model.json"))
meta["default_layer"] = summary["default_layer"]
open("models/scenes64/model.json", "w").write(json.dumps(meta, indent=1) + "\n")
print("default painting layer:", summary["default_layer"])
PY
) > runs/dissect.log 2>&1 &
dissect=$!
ganpaint evaluate --model scenes64 --n 5000 --threads 1 --no-progress > runs/evaluate.log 2>&1
wait $dissect
echo "done: models/scenes64/metrics.json, precomputed/scenes64/"
