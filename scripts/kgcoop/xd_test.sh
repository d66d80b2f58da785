#!/bin/bash
# KgCoOp: see scripts/common/xd_test.sh (CFG default vit_b16_ep100_ctxv1; SOURCE, SHOTS, LOADEP, W override).
# usage: DATA=/path/to/datasets bash scripts/kgcoop/xd_test.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/xd_test.sh" KgCoOp "$1" "$2" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W "${W:-8.0}" "${@:3}"
