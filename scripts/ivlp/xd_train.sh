#!/bin/bash
# IVLP: see scripts/common/xd_train.sh (CFG default vit_b16_c2_ep5_batch4_2+2ctx; DATASET=imagenet and SHOTS=16 by default).
# usage: DATA=/path/to/datasets bash scripts/ivlp/xd_train.sh SEED
CFG=${CFG:-vit_b16_c2_ep5_batch4_2+2ctx} exec bash "$(dirname "$0")/../common/xd_train.sh" IVLP "$@"
