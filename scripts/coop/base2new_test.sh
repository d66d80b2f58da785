#!/bin/bash
# CoOp: see scripts/common/base2new_test.sh (ImageNet: CFG=vit_b16_ep50_ctxv1 LOADEP=50).
# usage: DATA=/path/to/datasets bash scripts/coop/base2new_test.sh DATASET SEED
# Environment overrides: CFG (default vit_b16_ctxv1), SHOTS, LOADEP.
TRAINER=CoOp CFG=${CFG:-vit_b16_ctxv1} LOADEP=${LOADEP:-200} exec bash "$(dirname "$0")/../common/base2new_test.sh" "$@"
