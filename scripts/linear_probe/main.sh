#!/bin/bash
# Linear probe on frozen CLIP features, seeds 1-3: see scripts/common/fewshot_main.sh. Same few-shot
# splits as CoOp; C is searched on the val split. Features are cached in TRAINER.FEATURES.CACHE_DIR.
# usage: DATA=/path/to/datasets bash scripts/linear_probe/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/linear_probe/main.sh caltech101 rn50 16
exec bash "$(dirname "$0")/../common/fewshot_main.sh" LinearProbe "$@"
