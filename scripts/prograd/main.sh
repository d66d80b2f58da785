#!/bin/bash
# ProGrad few-shot training, seeds 1-3 (the official scripts/prograd.sh command line): see
# scripts/common/fewshot_main.sh. LOSS.LAMBDA as the official README: 0.8 for 8 and 16 shots on Flowers102,
# DTD and EuroSAT, else 1.0 (LAMBDA=<l> overrides). Configs: rn50_ep50 (1 shot), rn50_ep100 (2, 4), rn50 (8, 16).
# usage: DATA=/path/to/datasets bash scripts/prograd/main.sh DATASET CFG CTP NCTX SHOTS CSC [KEY VALUE ...]
#   e.g. bash scripts/prograd/main.sh caltech101 rn50 end 16 16 False
#   output: output/DATASET/ProGrad/CFG_SHOTSshots/nctxNCTX_cscCSC_ctpCTP/seedS
if [ $# -lt 6 ]; then
    echo "usage: DATA=/path/to/datasets bash $0 DATASET CFG CTP NCTX SHOTS CSC [KEY VALUE ...]" >&2
    exit 2
fi
case "$1" in
    oxford_flowers|dtd|eurosat) [ "$5" -ge 8 ] && DEFAULT_LAMBDA=0.8 ;;
esac
exec bash "$(dirname "$0")/../common/fewshot_main.sh" ProGrad "$1" "$2" "$5" \
    TRAINER.COOP.N_CTX "$4" TRAINER.COOP.CSC "$6" TRAINER.COOP.CLASS_TOKEN_POSITION "$3" \
    LOSS.LAMBDA "${LAMBDA:-${DEFAULT_LAMBDA:-1.0}}" "${@:7}"
