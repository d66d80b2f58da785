#!/bin/bash
# ProGrad: see scripts/common/xd_train.sh (CFG default rn50_ep50, the README's ImageNet config; ImageNet, SHOTS 16
# by default; N_CTX 16, LAMBDA 1.0 or LAMBDA=<l>).
# usage: DATA=/path/to/datasets bash scripts/prograd/xd_train.sh SEED [KEY VALUE ...]
[ $# -ge 1 ] || { echo "usage: DATA=/path/to/datasets bash $0 SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-rn50_ep50} exec bash "$(dirname "$0")/../common/xd_train.sh" ProGrad "$1" \
    TRAINER.COOP.N_CTX 16 LOSS.LAMBDA "${LAMBDA:-1.0}" "${@:2}"
