#!/bin/bash
# Base-to-novel, step 2: evaluate the base-trained model on the novel classes (LOADEP=<epoch> overrides the
# config's last epoch).
# usage: DATA=/path/to/datasets CFG=<config> bash scripts/common/base2new_test.sh TRAINER DATASET SEED [KEY VALUE ...]
#   output: output/base2new/test_new/DATASET/shots_16/TRAINER/CFG/seedSEED
source "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] || usage "TRAINER DATASET SEED [KEY VALUE ...]  (CFG=<config>)"
TRAINER=$1; DATASET=$2; SEED=$3
shift 3
launch base2new_test --trainer "$TRAINER" --dataset "$DATASET" --config "${CFG:?set CFG (a config of $TRAINER)}" \
    --shots "${SHOTS:-16}" --seeds "$SEED" ${LOADEP:+--load-epoch "$LOADEP"} -- "$@"
