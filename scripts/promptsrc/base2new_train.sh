#!/bin/bash
# PromptSRC: see scripts/common/base2new_train.sh (CFG default vit_b16_c2_ep20_batch4_4+4ctx; SHOTS overrides).
# usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_train.sh DATASET SEED
CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx} exec bash "$(dirname "$0")/../common/base2new_train.sh" PromptSRC "$@"
