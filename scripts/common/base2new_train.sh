#!/bin/bash
# Base-to-novel, step 1: train on the base classes (16 shots; SHOTS=<k> overrides).
# usage: DATA=/path/to/datasets CFG=<config> bash scripts/common/base2new_train.sh TRAINER DATASET SEED [KEY VALUE ...]
#   output: output/base2new/train_base/DATASET/shots_16/TRAINER/CFG/seedSEED
source "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] || usage "TRAINER DATASET SEED [KEY VALUE ...]  (CFG=<config>)"
TRAINER=$1; DATASET=$2; SEED=$3
shift 3
launch base2new_train --trainer "$TRAINER" --dataset "$DATASET" --config "${CFG:?set CFG (a config of $TRAINER)}" \
    --shots "${SHOTS:-16}" --seeds "$SEED" -- "$@"
