#!/bin/bash
# Tip-Adapter (training-free) few-shot training and test, seeds 1-3: see scripts/common/fewshot_main.sh.
# Same few-shot splits as every other method. alpha/beta are searched on the val split.
# Features are cached in TRAINER.FEATURES.CACHE_DIR.
# usage: DATA=/path/to/datasets bash scripts/tip_adapter/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/tip_adapter/main.sh caltech101 vit_b16 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" TipAdapter "$@"
