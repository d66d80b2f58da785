#!/bin/bash
# CLIP_LoRA: see scripts/common/xd_train.sh (CFG default vit_b16; DATASET=imagenet and SHOTS=16 by default).
# usage: DATA=/path/to/datasets bash scripts/clip_lora/xd_train.sh SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/xd_train.sh" CLIP_LoRA "$@"
