#!/bin/bash
# IVLP: see scripts/common/xd_test.sh (CFG default vit_b16_c2_ep5_batch4_2+2ctx; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/ivlp/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16_c2_ep5_batch4_2+2ctx} exec bash "$(dirname "$0")/../common/xd_test.sh" IVLP "$@"
