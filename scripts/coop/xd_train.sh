#!/bin/bash
# CoOp: see scripts/common/xd_train.sh (ImageNet: CFG=vit_b16_ep50_ctxv1 LOADEP=50).
# usage: DATA=/path/to/datasets bash scripts/coop/xd_train.sh SEED   (DATASET=imagenet by default)
# Environment overrides: CFG (default vit_b16_ctxv1), SHOTS.
TRAINER=CoOp CFG=${CFG:-vit_b16_ctxv1} exec bash "$(dirname "$0")/../common/xd_train.sh" "$@"
