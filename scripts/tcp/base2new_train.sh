#!/bin/bash
# TCP: see scripts/common/base2new_train.sh (CFG default vit_b16_ep100_ctxv1; SHOTS overrides), with the official
# script's TRAINER.COOP.N_CTX 4 and TRAINER.COOP.W 1.0 (inert, as in the official code; it names the folder):
# output .../shots_16_1.0/TCP/CFG/seedS. ImageNet and SUN397 train 25 epochs (the official train.py).
# usage: DATA=/path/to/datasets bash scripts/tcp/base2new_train.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/base2new_train.sh" TCP "$1" "$2" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W 1.0 "${@:3}"
