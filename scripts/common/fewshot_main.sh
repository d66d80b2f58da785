#!/bin/bash
# Few-shot training and test of any method, seeds 1-3 (SEEDS="1 2" overrides), on the same few-shot splits.
# usage: DATA=/path/to/datasets bash scripts/common/fewshot_main.sh TRAINER DATASET CFG SHOTS [KEY VALUE ...]
#   output: output/DATASET/TRAINER/CFG_SHOTSshots[/<variant>]/seedS
source "$(dirname "$0")/lib.sh"
[ $# -ge 4 ] || usage "TRAINER DATASET CFG SHOTS [KEY VALUE ...]"
TRAINER=$1; DATASET=$2; CFG=$3; SHOTS=$4
shift 4
# shellcheck disable=SC2086  # SEEDS is a list
launch fewshot --trainer "$TRAINER" --dataset "$DATASET" --config "$CFG" --shots "$SHOTS" --seeds ${SEEDS:-1 2 3} -- "$@"
