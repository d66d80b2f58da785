#!/bin/bash
# MaPLe: see scripts/common/xd_test.sh (CFG default vit_b16_c2_ep5_batch4_2ctx_cross_datasets; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/maple/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16_c2_ep5_batch4_2ctx_cross_datasets} exec bash "$(dirname "$0")/../common/xd_test.sh" MaPLe "$@"
