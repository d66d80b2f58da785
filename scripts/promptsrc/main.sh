#!/bin/bash
# PromptSRC few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh.
# usage: DATA=/path/to/datasets bash scripts/promptsrc/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/promptsrc/main.sh caltech101 vit_b16_c2_ep50_batch4_4+4ctx_few_shot 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" PromptSRC "$@"
