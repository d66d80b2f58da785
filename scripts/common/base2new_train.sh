#!/bin/bash
# Base-to-novel, step 1: train on the base classes (16 shots).
# usage: DATA=/path/to/datasets bash scripts/<method>/base2new_train.sh DATASET SEED
# TRAINER and CFG come from the method's wrapper (scripts/<method>/); SHOTS=<k> overrides 16.
set -e
cd "$(dirname "$0")/../.."
source scripts/common/lib.sh  # run from anywhere (the repository root; the reference expected scripts/<method>/)

method_env
CFG=${CFG:?set CFG (a config under configs/trainers/$TRAINER/)}

DATASET=$1
SEED=$2
if [ -z "$SEED" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/<method>/base2new_train.sh DATASET SEED" >&2
    exit 2
fi

DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
train_unless_exists ${DIR} \
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES base
