#!/bin/bash
# IVLP few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh.
# usage: DATA=/path/to/datasets bash scripts/ivlp/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/ivlp/main.sh caltech101 vit_b16_c2_ep5_batch4_2+2ctx 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" IVLP "$@"
