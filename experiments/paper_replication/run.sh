#!/usr/bin/env bash
# The paper replication in one command: train the FCN and the DeepLabV3 model with the torchvision
# recipe on one registered cohort, compare them image by image (bus-seg-compare), and record the
# results beside this script.
#
#   experiments/paper_replication/run.sh                        # PROFILE=cpu
#   PROFILE=default experiments/paper_replication/run.sh
#   PROFILE=gpu experiments/paper_replication/run.sh [Hydra overrides for both runs]
#
# PROFILE
#   cpu      the BUSI-derived cohort (data=busi_tract), fcn_resnet101 and deeplabv3_resnet101,
#            scaled to a CPU: image side 96, batch 8, 8 epochs, trainer=cpu.
#   gpu      the full recipe as conf/experiment/paper_*.yaml define it (image side 512, batch 8,
#            30 epochs, trainer=gpu) on the BUSI-derived cohort.
#   default  the embedded default phantom cohort (data=simulated) with CPU-small stand-ins for the
#            two models: model=tiny in the FCN run, smp DeepLabV3+ on a ResNet-18 encoder in the
#            DeepLabV3 run; image side 128, 12 epochs. A check of the whole chain, not a
#            replication.
# Environment: BUS_SEG_BIN (folder of bus-seg-train and python; default .venv/bin when present),
# RUNS_DIR (default logs/paper_replication). Runs (with their checkpoints) go to
# $RUNS_DIR/<profile>/<date-time>/{fcn,deeplabv3,compare}; the comparison, each run's report and
# figures, and results.{json,md} go to experiments/paper_replication/<profile>/ and the README.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-cpu}"
if [[ -z "${BUS_SEG_BIN:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/bus-seg-train" ]]; then BUS_SEG_BIN="$ROOT/.venv/bin"; else BUS_SEG_BIN="$(dirname "$(command -v bus-seg-train)")"; fi
fi

COMMON=(evaluation.max_overlays=4)
case "$PROFILE" in
  cpu)
    COMMON+=(trainer=cpu data.image_size=96 data.batch_size=8 trainer.max_epochs=8)
    FCN_MODEL=()
    DEEPLAB_MODEL=()
    ;;
  gpu)
    FCN_MODEL=()
    DEEPLAB_MODEL=()
    ;;
  default)
    COMMON+=(data=simulated trainer=cpu data.image_size=128 trainer.max_epochs=12)
    FCN_MODEL=(model=tiny)
    DEEPLAB_MODEL=(model=deeplabv3plus model.encoder_name=resnet18)
    ;;
  *)
    echo "run.sh: PROFILE=$PROFILE is unknown; use PROFILE=cpu, gpu or default" >&2
    exit 2
    ;;
esac

RUN_ROOT="${RUNS_DIR:-logs/paper_replication}/$PROFILE/$(date +%Y-%m-%d_%H-%M-%S)"
DEST="$HERE/$PROFILE"
mkdir -p "$RUN_ROOT" "$DEST"
git rev-parse HEAD > "$RUN_ROOT/commit.txt" 2>/dev/null || echo unknown > "$RUN_ROOT/commit.txt"
git status --porcelain --untracked-files=no > "$RUN_ROOT/git_status.txt" 2>/dev/null || true
echo "PROFILE=$PROFILE experiments/paper_replication/run.sh${*:+ $(printf '%q ' "$@")}" > "$RUN_ROOT/invocation.txt"
TIMINGS="$RUN_ROOT/timings.tsv"
: > "$TIMINGS"

# timed STEP COMMAND...: run COMMAND, append "STEP<TAB>seconds<TAB>argument<US>argument..." to
# timings.tsv (arguments separated by the ASCII unit separator, so summarize.py can quote them).
timed() {
  local step="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  {
    printf '%s\t%s\t' "$step" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
    printf '%s\x1f' "$@"
    printf '\n'
  } >> "$TIMINGS"
}

echo "[paper_replication] profile $PROFILE; runs in $RUN_ROOT"
timed cohort "$BUS_SEG_BIN/python" "$HERE/prepare_cohort.py" "$RUN_ROOT/cohort.json" \
  experiment=paper_fcn101 "${COMMON[@]}" "$@"
timed fcn "$BUS_SEG_BIN/bus-seg-train" experiment=paper_fcn101 "${COMMON[@]}" "${FCN_MODEL[@]}" "$@" \
  "hydra.run.dir=$RUN_ROOT/fcn"
timed deeplabv3 "$BUS_SEG_BIN/bus-seg-train" experiment=paper_deeplabv3 "${COMMON[@]}" "${DEEPLAB_MODEL[@]}" "$@" \
  "hydra.run.dir=$RUN_ROOT/deeplabv3"
NAMES="$("$BUS_SEG_BIN/python" "$HERE/summarize.py" names "$RUN_ROOT")"
timed compare "$BUS_SEG_BIN/bus-seg-compare" "$RUN_ROOT/fcn" "$RUN_ROOT/deeplabv3" "names=$NAMES" \
  "out_dir=$DEST" "hydra.run.dir=$RUN_ROOT/compare"
"$BUS_SEG_BIN/python" "$HERE/summarize.py" record "$RUN_ROOT" --profile "$PROFILE"
