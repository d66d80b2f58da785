#!/bin/bash
# ProGrad: see scripts/common/xd_test.sh (CFG default rn50_ep50; the official eval.sh: distribution shift from an
# ImageNet model; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/prograd/xd_test.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-rn50_ep50} exec bash "$(dirname "$0")/../common/xd_test.sh" ProGrad "$1" "$2" \
    TRAINER.COOP.N_CTX 16 LOSS.LAMBDA "${LAMBDA:-1.0}" "${@:3}"
