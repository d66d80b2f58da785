#!/bin/bash
# CoOp: see scripts/common/xd_test.sh (CFG default vit_b16_ctxv1; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/coop/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16_ctxv1} exec bash "$(dirname "$0")/../common/xd_test.sh" CoOp "$@"
