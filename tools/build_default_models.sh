#!/usr/bin/env bash
# Rebuild the 8-class RAVDESS models (shipped until the multi-corpus models replaced them;
# train/results/multicorpus/README.md rebuilds those) into WORK_DIR/models:
#   1. speaker-independent 5-fold cross-validation (chooses nothing on test actors; reports),
#   2. the final fit on all actors, for the median best epoch of the folds,
#   3. pruning (50 % sparsity) and int8 conversion of every fold's members, and the device
#      pipeline scored on each fold's held-out actors, clean and with noise and gain (the
#      figures of the model card),
#   4. the same pruning and conversion of the final members into WORK_DIR/models (MODELS_OUT),
#      and the model card.
# Usage: bash tools/build_default_models.sh DATA_DIR [WORK_DIR]     (needs requirements-train.txt)
#   FROM_STEP=3 reuses WORK_DIR's cross-validation and final fit; SPARSITY=0 skips pruning.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:?usage: build_default_models.sh DATA_DIR [WORK_DIR]}"
WORK="${2:-runs/default}"
MODELS_OUT="${MODELS_OUT:-$WORK/models}"   # the 8-class RAVDESS models (the bundled ones are multi-corpus)
PY="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc)}"                         # members fitted side by side
SPARSITY="${SPARSITY:-0.5}"                      # magnitude pruning before int8
FROM_STEP="${FROM_STEP:-1}"
EDGE_SER=("$PY" -m edge.cli)
mkdir -p "$WORK"
start=$(date +%s)

# TRAIN_ARGS: extra `edge-ser train` options (e.g. a smoke test's --set epochs=1)
read -r -a extra <<< "${TRAIN_ARGS:-}"
if (( FROM_STEP <= 1 )); then
  echo "== 1. cross-validation"
  "${EDGE_SER[@]}" train --data "$DATA" --out "$WORK/cv" --cache "$WORK/cache" --jobs "$JOBS" --no-final \
    "${extra[@]}"
fi
if (( FROM_STEP <= 2 )); then
  # a fixed schedule reports its last epoch as the best, so this is the schedule's length
  epochs=$("$PY" - "$WORK/cv" <<'PYEOF'
import glob, json, statistics, sys
best = [m["best_epoch"] for f in sorted(glob.glob(f"{sys.argv[1]}/fold-*/set.json"))
        for m in json.load(open(f))["members"]]
print(max(1, round(statistics.median(best))))
PYEOF
  )
  echo "== 2. final fit on all actors, $epochs epochs (median best epoch of the folds)"
  "${EDGE_SER[@]}" train --data "$DATA" --out "$WORK/final" --cache "$WORK/cache" --only final \
    --set "epochs=$epochs" --no-compare --jobs "$JOBS" "${extra[@]}"
fi

echo "== 3. pruned int8 per fold, scored on held-out actors"
for set_dir in "$WORK"/cv/fold-*; do
  k=$(basename "$set_dir")
  "${EDGE_SER[@]}" convert "$WORK/cv" --set "$k" --out "$WORK/cv-int8/$k" --force \
    --sparsity "$SPARSITY"
done
"$PY" benchmarks/cv_int8.py --data "$DATA" --folds "$WORK/cv" \
  --models "$WORK/cv-int8/fold-{k}" --out "$WORK/cv-int8"

echo "== 4. the shipped models and their card"
"${EDGE_SER[@]}" convert "$WORK/final" --out "$MODELS_OUT" --force --sparsity "$SPARSITY"
"$PY" tools/model_card.py --cv "$WORK/cv" --final "$WORK/final" --int8 "$WORK/cv-int8" \
  --models "$MODELS_OUT"
echo "done in $(( ($(date +%s) - start) / 60 )) min"
