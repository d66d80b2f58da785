#!/bin/bash
# TCP: see scripts/common/xd_test.sh (CFG default vit_b16_ep100_ctxv1; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/tcp/xd_test.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/xd_test.sh" TCP "$1" "$2" TRAINER.COOP.N_CTX 4 "${@:3}"
