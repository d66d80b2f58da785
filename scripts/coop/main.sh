#!/bin/bash
# CoOp few-shot training, seeds 1-3 (run from the repository root).
# usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC
#   e.g. bash scripts/coop/main.sh caltech101 rn50_ep50 end 16 1 False
set -e
source "$(dirname "$0")/../common/lib.sh"

DATA=${DATA:-/path/to/datasets}  # the folder holding caltech-101/, oxford_pets/, ...
TRAINER=CoOp

DATASET=$1
CFG=$2   # config file under configs/trainers/CoOp/
CTP=$3   # class token position (end or middle)
NCTX=$4  # number of context tokens
SHOTS=$5 # number of shots (1, 2, 4, 8, 16)
CSC=$6   # class-specific context (False or True)
if [ -z "$CSC" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC" >&2
    exit 2
fi

for SEED in 1 2 3
do
    DIR=output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/seed${SEED}
    train_unless_exists ${DIR} \
        TRAINER.COOP.N_CTX ${NCTX} \
        TRAINER.COOP.CSC ${CSC} \
        TRAINER.COOP.CLASS_TOKEN_POSITION ${CTP} \
        DATASET.NUM_SHOTS ${SHOTS}
done
