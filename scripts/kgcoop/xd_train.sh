#!/bin/bash
# KgCoOp: see scripts/common/xd_train.sh (CFG default vit_b16_ep100_ctxv1; ImageNet, 16 shots; N_CTX 4, W 8.0 or W=<w>).
# (The official xd_train.sh trains every dataset on 4 shots of all classes and ships no test script; this is
# the cross-dataset protocol of the papers: ImageNet source, 16 shots.)
# usage: DATA=/path/to/datasets bash scripts/kgcoop/xd_train.sh SEED [KEY VALUE ...]
[ $# -ge 1 ] || { echo "usage: DATA=/path/to/datasets bash $0 SEED [KEY VALUE ...]" >&2; exit 2; }
CFG=${CFG:-vit_b16_ep100_ctxv1} exec bash "$(dirname "$0")/../common/xd_train.sh" KgCoOp "$1" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.W "${W:-8.0}" "${@:2}"
