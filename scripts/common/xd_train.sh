#!/bin/bash
# Cross-dataset transfer / domain generalisation, step 1: train on the source dataset (DATASET=imagenet
# by default), 16 shots (SHOTS overrides).
# usage: DATA=/path/to/datasets CFG=<config> bash scripts/common/xd_train.sh TRAINER SEED [KEY VALUE ...]
#   output: output/imagenet/TRAINER/CFG_16shots[/<variant>]/seedSEED
source "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || usage "TRAINER SEED [KEY VALUE ...]  (CFG=<config>)"
TRAINER=$1; SEED=$2
shift 2
launch xd_train --trainer "$TRAINER" --dataset "${DATASET:-imagenet}" --config "${CFG:?set CFG (a config of $TRAINER)}" \
    --shots "${SHOTS:-16}" --seeds "$SEED" -- "$@"
