#!/bin/sh
# demo.sh: what `make demo` runs once the programs are built.  Generates the
# synthetic EMBED-layout dataset (once), pretrains the cpu-small preset on the
# CPU, and evaluates zero-shot and linear probing for breast density on the
# held-out test split, then prints a summary and the reports' paths.
#
#   sh tools/demo.sh [BUILD_DIR]      (make demo passes its build directory)
#
# Environment overrides: DEMO_DATA (data/synth), DEMO_RUN (runs/cpu-small, or
# runs/cpu-small-PRECISION for another precision and runs/cpu-small-STEPSsteps
# for DEMO_STEPS, so runs of other settings never mix),
# DEMO_PATIENTS (150), DEMO_STEPS (the preset's steps), DEMO_PROBE_STEPS (200),
# DEMO_PRECISION (auto: fp32 matmuls on the CPU; bf16 is faster on AMD Zen 4/5,
# about 9 % slower on Intel's AVX512-BF16 cores).
set -eu
BUILD=${1:-build}
DATA=${DEMO_DATA:-data/synth}
PATIENTS=${DEMO_PATIENTS:-150}
PROBE_STEPS=${DEMO_PROBE_STEPS:-200}
PRECISION=${DEMO_PRECISION:-auto}
RUN_NAME=runs/cpu-small
if [ "$PRECISION" != auto ]; then RUN_NAME="$RUN_NAME-$PRECISION"; fi
if [ -n "${DEMO_STEPS:-}" ]; then RUN_NAME="$RUN_NAME-${DEMO_STEPS}steps"; fi
RUN=${DEMO_RUN:-$RUN_NAME}
START=$(date +%s)

elapsed() { echo "$(( $(date +%s) - START )) s"; }

# 1. Data: a fixed seed makes every demo see the same patients.  Reused when present.
if [ -f "$DATA/tables/EMBED_OpenData_clinical_reduced.csv" ]; then
    echo "== demo 1/4: using the synthetic dataset in $DATA (delete it to regenerate)"
else
    echo "== demo 1/4: generating $PATIENTS synthetic patients into $DATA"
    "$BUILD/synth" --patients "$PATIENTS" --out "$DATA" --seed 1 --size 256
fi

# 2. Pretraining.  A finished run is reused; an interrupted one resumes exactly.
STEPS_ARG=""
if [ -n "${DEMO_STEPS:-}" ]; then STEPS_ARG="--train.steps $DEMO_STEPS"; fi
RESUME=""
if [ -f "$RUN/last.safetensors" ]; then RESUME="--resume"; fi
echo "== demo 2/4: pretraining mama/configs/cpu-small.json into $RUN ($(elapsed) so far)"
# shellcheck disable=SC2086  # STEPS_ARG and RESUME are deliberately word-split
"$BUILD/pretrain" --config mama/configs/cpu-small.json --train.data_dir "$DATA" --train.out_dir "$RUN" \
    --train.precision "$PRECISION" $STEPS_ARG $RESUME

# 3. Zero-shot: per-image prompts built from each image's own metadata.
echo "== demo 3/4: zero-shot density classification ($(elapsed) so far)"
"$BUILD/evaluate" --checkpoint "$RUN/last.safetensors" --data "$DATA" --task density --mode zeroshot \
    --precision "$PRECISION" --out "$RUN/eval-density-zeroshot"

# 4. Linear probe: frozen image tower, a linear classifier trained on its features.
echo "== demo 4/4: linear probe for density, $PROBE_STEPS steps ($(elapsed) so far)"
"$BUILD/evaluate" --checkpoint "$RUN/last.safetensors" --data "$DATA" --task density --mode linear \
    --steps "$PROBE_STEPS" --batch 32 --lr 0.05 --precision "$PRECISION" --out "$RUN/eval-density-linear"

echo
echo "== demo finished in $(elapsed)"
echo "   chance level for the 4 density classes: balanced accuracy 25 %, macro AUC 50 % (values in %)"
# metrics.json is indented by one space per level: top-level keys start with ' "'.
metric() { grep -m1 "^ \"$2\": " "$1" | sed -e 's/.*: *//' -e 's/,$//' | awk '{ printf "%.1f", $1 }'; }
printf '   %-10s %9s %18s %9s\n' "density" "accuracy" "balanced accuracy" "AUC"
for mode in zeroshot linear; do
    m="$RUN/eval-density-$mode/metrics.json"
    if [ -f "$m" ]; then
        printf '   %-10s %9s %18s %9s\n' "$mode" "$(metric "$m" accuracy)" \
            "$(metric "$m" balanced_accuracy)" "$(metric "$m" auc)"
    fi
done
echo "   reports: $RUN/eval-density-zeroshot/report.html  $RUN/eval-density-linear/report.html"
echo "   training log: $RUN/log.jsonl"
