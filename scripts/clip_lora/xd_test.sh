#!/bin/bash
# CLIP_LoRA: see scripts/common/xd_test.sh (CFG default vit_b16; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/clip_lora/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/xd_test.sh" CLIP_LoRA "$@"
