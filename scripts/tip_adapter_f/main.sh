#!/bin/bash
# Tip-Adapter-F few-shot training and test, seeds 1-3: see scripts/common/fewshot_main.sh.
# Same few-shot splits as every other method. EuroSAT: CFG vit_b16_ep100 (official: 100 epochs).
# Features are cached in TRAINER.FEATURES.CACHE_DIR.
# usage: DATA=/path/to/datasets bash scripts/tip_adapter_f/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/tip_adapter_f/main.sh caltech101 vit_b16 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" TipAdapterF "$@"
