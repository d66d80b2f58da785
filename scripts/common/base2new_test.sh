#!/bin/bash
# Base-to-novel, step 2: evaluate the base-trained model on the novel classes.
# usage: DATA=/path/to/datasets bash scripts/<method>/base2new_test.sh DATASET SEED
# Override with CFG=..., SHOTS=... and LOADEP=<epoch of the checkpoint to load>.
set -e
cd "$(dirname "$0")/../.."
source scripts/common/lib.sh

method_env
CFG=${CFG:?set CFG (a config under configs/trainers/$TRAINER/)}
LOADEP=${LOADEP:?set LOADEP (the epoch of the checkpoint to load)}
SUB=new

DATASET=$1
SEED=$2
if [ -z "$SEED" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/<method>/base2new_test.sh DATASET SEED" >&2
    exit 2
fi

COMMON_DIR=${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
MODEL_DIR=output/base2new/train_base/${COMMON_DIR}
DIR=output/base2new/test_${SUB}/${COMMON_DIR}
train_unless_exists ${DIR} \
    --model-dir ${MODEL_DIR} \
    --load-epoch ${LOADEP} \
    --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES ${SUB}
