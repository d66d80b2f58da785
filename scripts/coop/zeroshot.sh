#!/bin/bash
# Zero-shot CLIP with the dataset's hand-written template (configs/trainers/CoOp/CFG.yaml).
# usage: DATA=/path/to/datasets bash scripts/coop/zeroshot.sh DATASET CFG   (CFG e.g. rn50, vit_b16)
#   output: output/ZeroshotCLIP/CFG/DATASET
exec bash "$(dirname "$0")/../common/zeroshot.sh" ZeroshotCLIP "$@"
