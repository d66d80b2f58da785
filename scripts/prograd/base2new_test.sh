#!/bin/bash
# ProGrad: see scripts/common/base2new_test.sh (CFG rn50_ep100, SHOTS 4 as the official base2new_test_prograd.sh;
# CFG, SHOTS, LOADEP, LAMBDA override).
# usage: DATA=/path/to/datasets bash scripts/prograd/base2new_test.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-rn50_ep100} SHOTS=${SHOTS:-4} exec bash "$(dirname "$0")/../common/base2new_test.sh" ProGrad "$1" "$2" \
    TRAINER.COOP.N_CTX 16 LOSS.LAMBDA "${LAMBDA:-1.0}" "${@:3}"
