#!/bin/bash
# CoCoOp: see scripts/common/xd_train.sh (CFG default vit_b16_c4_ep10_batch1_ctxv1; DATASET=imagenet and SHOTS=16 by default).
# usage: DATA=/path/to/datasets bash scripts/cocoop/xd_train.sh SEED
CFG=${CFG:-vit_b16_c4_ep10_batch1_ctxv1} exec bash "$(dirname "$0")/../common/xd_train.sh" CoCoOp "$@"
