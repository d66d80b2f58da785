#!/bin/bash
# KgCoOp few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh (N_CTX 4 and W 8.0 as the official
# base-to-new scripts; W=<w> overrides). The official repository ships no few-shot script.
# usage: DATA=/path/to/datasets bash scripts/kgcoop/main.sh DATASET CFG SHOTS [KEY VALUE ...]
#   e.g. bash scripts/kgcoop/main.sh caltech101 vit_b16_ep100_ctxv1 16
[ $# -ge 3 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET CFG SHOTS [KEY VALUE ...]" >&2; exit 2; }
exec bash "$(dirname "$0")/../common/fewshot_main.sh" KgCoOp "$1" "$2" "$3" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W "${W:-8.0}" "${@:4}"
