#!/usr/bin/env bash
# Rebuild the shipped models (edge/models/default) from RAVDESS, as the model card describes:
#   1. speaker-independent 5-fold cross-validation (chooses nothing on test actors; reports),
#   2. the final fit on all actors, for the median best epoch of the folds,
#   3. int8 conversion of every fold's members and the device pipeline scored on each fold's
#      held-out actors, clean and with noise and gain (the figures of the model card),
#   4. int8 conversion of the final members into edge/models/default, and the model card.
# Usage: bash tools/build_default_models.sh DATA_DIR [WORK_DIR]     (needs requirements-train.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:?usage: build_default_models.sh DATA_DIR [WORK_DIR]}"
WORK="${2:-runs/default}"
MODELS_OUT="${MODELS_OUT:-edge/models/default}"   # where the shipped models go
PY="${PYTHON:-python3}"
EDGE_SER=("$PY" -m edge.cli)
mkdir -p "$WORK"
start=$(date +%s)

echo "== 1. cross-validation"
# TRAIN_ARGS: extra `edge-ser train` options (e.g. a smoke test's --set epochs=1)
read -r -a extra <<< "${TRAIN_ARGS:-}"
"${EDGE_SER[@]}" train --data "$DATA" --out "$WORK/cv" --cache "$WORK/cache" "${extra[@]}"

epochs=$("$PY" - "$WORK/cv" <<'PYEOF'
import glob, json, statistics, sys
best = [m["best_epoch"] for f in sorted(glob.glob(f"{sys.argv[1]}/fold-*/set.json"))
        for m in json.load(open(f))["members"]]
print(max(1, round(statistics.median(best))))
PYEOF
)
echo "== 2. final fit on all actors, $epochs epochs (median best epoch of the folds)"
"${EDGE_SER[@]}" train --data "$DATA" --out "$WORK/final" --cache "$WORK/cache" --only final \
  --set "epochs=$epochs" --no-compare "${extra[@]}"

echo "== 3. int8 per fold, scored on held-out actors"
for set_dir in "$WORK"/cv/fold-*; do
  k=$(basename "$set_dir")
  "${EDGE_SER[@]}" convert "$WORK/cv" --set "$k" --out "$WORK/cv-int8/$k" --force
done
"$PY" benchmarks/cv_int8.py --data "$DATA" --folds "$WORK/cv" \
  --models "$WORK/cv-int8/fold-{k}" --out "$WORK/cv-int8"

echo "== 4. the shipped models and their card"
"${EDGE_SER[@]}" convert "$WORK/final" --out "$MODELS_OUT" --force
"$PY" tools/model_card.py --cv "$WORK/cv" --final "$WORK/final" --int8 "$WORK/cv-int8" \
  --models "$MODELS_OUT"
echo "done in $(( ($(date +%s) - start) / 60 )) min"
