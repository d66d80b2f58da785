#!/bin/bash
# Evaluate the ImageNet-trained CoOp models (16 shots, epoch 50, M=16 unified, end) on DATASET, seeds 1-3.
# usage: DATA=/path/to/datasets bash scripts/coop/eval.sh DATASET CFG
#   model:  output/imagenet/CoOp/CFG_16shots/nctx16_cscFalse_ctpend/seedS
#   output: output/evaluation/CoOp/CFG_16shots/nctx16_cscFalse_ctpend/DATASET/seedS
source "$(dirname "$0")/../common/lib.sh"
[ $# -ge 2 ] || usage "DATASET CFG"
launch xd_test --trainer CoOp --dataset "$1" --config "$2" --shots 16 --seeds 1 2 3 --source imagenet \
    --load-epoch "${LOADEP:-50}" -- TRAINER.COOP.N_CTX 16 TRAINER.COOP.CSC False TRAINER.COOP.CLASS_TOKEN_POSITION end
