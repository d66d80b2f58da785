#!/bin/bash
# KgCoOp: see scripts/common/base2new_train.sh (CFG default vit_b16_ep100_ctxv1; SHOTS overrides), with the official
# scripts' TRAINER.COOP.N_CTX 4 and TRAINER.COOP.W 8.0 (W=<w> overrides); output .../shots_16_<W>/KgCoOp/CFG/seedS.
# usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/base2new_train.sh" KgCoOp "$1" "$2" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W "${W:-8.0}" "${@:3}"
