#!/bin/bash
# CoCoOp: see scripts/common/base2new_test.sh (CFG default vit_b16_c4_ep10_batch1_ctxv1; SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_test.sh DATASET SEED
CFG=${CFG:-vit_b16_c4_ep10_batch1_ctxv1} exec bash "$(dirname "$0")/../common/base2new_test.sh" CoCoOp "$@"
