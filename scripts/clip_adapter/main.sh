#!/bin/bash
# CLIP-Adapter few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh. Same few-shot
# splits as CoOp; the residual ratio is TRAINER.CLIP_ADAPTER.ALPHA in the config (default 0.2).
# usage: DATA=/path/to/datasets bash scripts/clip_adapter/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/clip_adapter/main.sh caltech101 rn50 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" CLIP_Adapter "$@"
