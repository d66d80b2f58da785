#!/bin/bash
# Few-shot training of a baseline, seeds 1-3, on the same few-shot splits as CoOp.
# usage: DATA=/path/to/datasets bash scripts/<method>/main.sh DATASET CFG SHOTS
# TRAINER comes from the method's wrapper (scripts/linear_probe/, scripts/clip_adapter/).
set -e
cd "$(dirname "$0")/../.."
source scripts/common/lib.sh  # run from anywhere (the repository root)

method_env
DATASET=$1
CFG=$2   # config file under configs/trainers/$TRAINER/
SHOTS=$3 # number of shots (1, 2, 4, 8, 16)
if [ -z "$SHOTS" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/<method>/main.sh DATASET CFG SHOTS" >&2
    exit 2
fi

for SEED in 1 2 3
do
    DIR=output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
    train_unless_exists ${DIR} DATASET.NUM_SHOTS ${SHOTS}
done
