#!/bin/bash
# PromptSRC: see scripts/common/xd_train.sh (CFG default vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets; DATASET=imagenet and SHOTS=16 by default).
# usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh SEED
CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets} exec bash "$(dirname "$0")/../common/xd_train.sh" PromptSRC "$@"
