#!/bin/bash
# CoOp few-shot training, seeds 1-3 (the original command line; runs from any folder).
# usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC
#   e.g. bash scripts/coop/main.sh caltech101 rn50_ep50 end 16 1 False
#   output: output/DATASET/CoOp/CFG_SHOTSshots/nctxNCTX_cscCSC_ctpCTP/seedS
if [ $# -lt 6 ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC" >&2
    exit 2
fi
exec bash "$(dirname "$0")/../common/fewshot_main.sh" CoOp "$1" "$2" "$5" \
    TRAINER.COOP.N_CTX "$4" TRAINER.COOP.CSC "$6" TRAINER.COOP.CLASS_TOKEN_POSITION "$3"
