#!/bin/bash
# Zero-shot evaluation (no training, unseeded) of a training-free trainer (ZeroshotCLIP, ZeroshotCLIP2).
# usage: DATA=/path/to/datasets bash scripts/common/zeroshot.sh TRAINER DATASET CFG [KEY VALUE ...]
#   output: output/TRAINER/CFG/DATASET
source "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] || usage "TRAINER DATASET CFG [KEY VALUE ...]"
TRAINER=$1; DATASET=$2; CFG=$3
shift 3
launch zeroshot --trainer "$TRAINER" --dataset "$DATASET" --config "$CFG" -- "$@"
