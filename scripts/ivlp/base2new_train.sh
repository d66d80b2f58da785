#!/bin/bash
# IVLP: see scripts/common/base2new_train.sh (CFG default vit_b16_c2_ep5_batch4_2+2ctx; SHOTS overrides).
# usage: DATA=/path/to/datasets bash scripts/ivlp/base2new_train.sh DATASET SEED
CFG=${CFG:-vit_b16_c2_ep5_batch4_2+2ctx} exec bash "$(dirname "$0")/../common/base2new_train.sh" IVLP "$@"
