#!/bin/bash
# CoCoOp: see scripts/common/xd_test.sh.
# usage: DATA=/path/to/datasets bash scripts/cocoop/xd_test.sh DATASET SEED
# Environment overrides: CFG (default vit_b16_c4_ep10_batch1_ctxv1), SHOTS, LOADEP.
TRAINER=CoCoOp CFG=${CFG:-vit_b16_c4_ep10_batch1_ctxv1} LOADEP=${LOADEP:-10} exec bash "$(dirname "$0")/../common/xd_test.sh" "$@"
