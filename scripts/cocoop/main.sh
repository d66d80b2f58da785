#!/bin/bash
# CoCoOp few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh.
# usage: DATA=/path/to/datasets bash scripts/cocoop/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/cocoop/main.sh caltech101 vit_b16_c4_ep10_batch1_ctxv1 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" CoCoOp "$@"
