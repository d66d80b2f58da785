#!/bin/bash
# PromptSRC: see scripts/common/xd_test.sh (CFG default vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets} exec bash "$(dirname "$0")/../common/xd_test.sh" PromptSRC "$@"
