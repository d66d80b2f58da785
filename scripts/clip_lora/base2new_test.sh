#!/bin/bash
# CLIP_LoRA: see scripts/common/base2new_test.sh (CFG default vit_b16; SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/clip_lora/base2new_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/base2new_test.sh" CLIP_LoRA "$@"
