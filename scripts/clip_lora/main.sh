#!/bin/bash
# CLIP-LoRA few-shot training and test, seeds 1-3: see scripts/common/fewshot_main.sh.
# Same few-shot splits as every other method. 500 x SHOTS iterations (TRAINER.CLIP_LORA.N_ITERS per shot);
# the log says how many epochs that is.
# usage: DATA=/path/to/datasets bash scripts/clip_lora/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/clip_lora/main.sh caltech101 vit_b16 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" CLIP_LoRA "$@"
