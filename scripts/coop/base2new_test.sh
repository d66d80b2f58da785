#!/bin/bash
# CoOp: see scripts/common/base2new_test.sh (CFG default vit_b16_ctxv1, ImageNet: vit_b16_ep50_ctxv1; SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/coop/base2new_test.sh DATASET SEED
CFG=${CFG:-vit_b16_ctxv1} exec bash "$(dirname "$0")/../common/base2new_test.sh" CoOp "$@"
