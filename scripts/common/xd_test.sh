#!/bin/bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the source-trained model on DATASET (full
# test data): the 10 other benchmarks (cross-dataset) or imagenetv2, imagenet_sketch, imagenet_a,
# imagenet_r (domain generalisation). SOURCE (default imagenet), SHOTS and LOADEP override.
# usage: DATA=/path/to/datasets CFG=<config> bash scripts/common/xd_test.sh TRAINER DATASET SEED [KEY VALUE ...]
#   output: output/evaluation/TRAINER/CFG_16shots[/<variant>]/DATASET/seedSEED
source "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] || usage "TRAINER DATASET SEED [KEY VALUE ...]  (CFG=<config>)"
TRAINER=$1; DATASET=$2; SEED=$3
shift 3
launch xd_test --trainer "$TRAINER" --dataset "$DATASET" --config "${CFG:?set CFG (a config of $TRAINER)}" \
    --shots "${SHOTS:-16}" --seeds "$SEED" --source "${SOURCE:-imagenet}" ${LOADEP:+--load-epoch "$LOADEP"} -- "$@"
