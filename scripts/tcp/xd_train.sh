#!/bin/bash
# TCP: see scripts/common/xd_train.sh (CFG default vit_b16_ep100_ctxv1; ImageNet, 16 shots, 25 epochs; N_CTX 4).
# The official repository ships no cross-dataset script; this is the papers' protocol.
# usage: DATA=/path/to/datasets bash scripts/tcp/xd_train.sh SEED [KEY VALUE ...]
[ $# -ge 1 ] || { echo "usage: DATA=/path/to/datasets bash $0 SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/xd_train.sh" TCP "$1" TRAINER.COOP.N_CTX 4 "${@:2}"
