#!/bin/bash
# ProGrad: see scripts/common/base2new_train.sh, with the official base2new_train_prograd.sh settings: CFG rn50_ep100,
# SHOTS 4, N_CTX 16, LAMBDA 1.0 (CFG, SHOTS, LAMBDA override; e.g. CFG=vit_b16_ep100 SHOTS=16 for the ViT-B/16
# comparison of the KgCoOp / TCP papers). Output .../shots_4/ProGrad/rn50_ep100/seedS.
# usage: DATA=/path/to/datasets bash scripts/prograd/base2new_train.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-rn50_ep100} SHOTS=${SHOTS:-4} exec bash "$(dirname "$0")/../common/base2new_train.sh" ProGrad "$1" "$2" \
    TRAINER.COOP.N_CTX 16 LOSS.LAMBDA "${LAMBDA:-1.0}" "${@:3}"
