#!/bin/bash
# Evaluate the ImageNet-trained CoOp models (16 shots, 50 epochs) on DATASET, seeds 1-3.
# usage: DATA=/path/to/datasets bash scripts/coop/eval.sh DATASET CFG
set -e

DATA=${DATA:-/path/to/datasets}
TRAINER=CoOp
SHOTS=16
NCTX=16
CSC=False
CTP=end

DATASET=$1
CFG=$2
if [ -z "$CFG" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/coop/eval.sh DATASET CFG" >&2
    exit 2
fi

for SEED in 1 2 3
do
    python train.py \
    --root ${DATA} \
    --seed ${SEED} \
    --trainer ${TRAINER} \
    --dataset-config-file configs/datasets/${DATASET}.yaml \
    --config-file configs/trainers/${TRAINER}/${CFG}.yaml \
    --output-dir output/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/${DATASET}/seed${SEED} \
    --model-dir output/imagenet/${TRAINER}/${CFG}_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/seed${SEED} \
    --load-epoch 50 \
    --eval-only \
    TRAINER.COOP.N_CTX ${NCTX} \
    TRAINER.COOP.CSC ${CSC} \
    TRAINER.COOP.CLASS_TOKEN_POSITION ${CTP}
done
