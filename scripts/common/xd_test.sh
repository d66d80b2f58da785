#!/bin/bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet-trained model on
# another dataset (full test data). Targets: the 10 other benchmarks (cross-dataset) and
# imagenetv2, imagenet_sketch, imagenet_a, imagenet_r (domain generalisation).
# usage: DATA=/path/to/datasets bash scripts/<method>/xd_test.sh DATASET SEED
set -e
cd "$(dirname "$0")/../.."
source scripts/common/lib.sh

method_env
CFG=${CFG:?set CFG (a config under configs/trainers/$TRAINER/)}
LOADEP=${LOADEP:?set LOADEP (the epoch of the checkpoint to load)}
SOURCE=${SOURCE:-imagenet}

DATASET=$1
SEED=$2
if [ -z "$SEED" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/<method>/xd_test.sh DATASET SEED" >&2
    exit 2
fi

DIR=output/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}
train_unless_exists ${DIR} \
    --model-dir output/${SOURCE}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED} \
    --load-epoch ${LOADEP} \
    --eval-only
