#!/bin/bash
# Cross-dataset transfer / domain generalisation, step 1: train on ImageNet (16 shots).
# usage: DATA=/path/to/datasets bash scripts/<method>/xd_train.sh SEED   (DATASET=imagenet by default)
set -e
cd "$(dirname "$0")/../.."
source scripts/common/lib.sh

method_env
CFG=${CFG:?set CFG (a config under configs/trainers/$TRAINER/)}
DATASET=${DATASET:-imagenet}

SEED=$1
if [ -z "$SEED" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/<method>/xd_train.sh SEED" >&2
    exit 2
fi

DIR=output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
train_unless_exists ${DIR} \
    DATASET.NUM_SHOTS ${SHOTS}
