#!/bin/bash
# TCP: see scripts/common/base2new_test.sh (CFG default vit_b16_ep100_ctxv1; SHOTS, LOADEP override; the default
# epoch is the config's, 25 on ImageNet and SUN397 as the official scripts load).
# usage: DATA=/path/to/datasets bash scripts/tcp/base2new_test.sh DATASET SEED [KEY VALUE ...]
[ $# -ge 2 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/base2new_test.sh" TCP "$1" "$2" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W 1.0 "${@:3}"
