#!/bin/bash
# Zero-shot CLIP with the dataset's hand-written template.
# usage: DATA=/path/to/datasets bash scripts/coop/zeroshot.sh DATASET CFG   (CFG e.g. rn50, vit_b16)
set -e

DATA=${DATA:-/path/to/datasets}
TRAINER=ZeroshotCLIP
DATASET=$1
CFG=$2
if [ -z "$CFG" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/coop/zeroshot.sh DATASET CFG" >&2
    exit 2
fi

python train.py \
--root ${DATA} \
--trainer ${TRAINER} \
--dataset-config-file configs/datasets/${DATASET}.yaml \
--config-file configs/trainers/CoOp/${CFG}.yaml \
--output-dir output/${TRAINER}/${CFG}/${DATASET} \
--eval-only
