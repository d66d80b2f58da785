#!/bin/bash
# MaPLe: see scripts/common/xd_train.sh (CFG default vit_b16_c2_ep5_batch4_2ctx_cross_datasets; DATASET=imagenet and SHOTS=16 by default).
# usage: DATA=/path/to/datasets bash scripts/maple/xd_train.sh SEED
CFG=${CFG:-vit_b16_c2_ep5_batch4_2ctx_cross_datasets} exec bash "$(dirname "$0")/../common/xd_train.sh" MaPLe "$@"
