#!/bin/bash
# TCP few-shot training, seeds 1-3: see scripts/common/fewshot_main.sh (N_CTX 4 as the official base-to-new
# script). The official repository ships no few-shot script.
# usage: DATA=/path/to/datasets bash scripts/tcp/main.sh DATASET CFG SHOTS [KEY VALUE ...]
#   e.g. bash scripts/tcp/main.sh caltech101 vit_b16_ep100_ctxv1 16
[ $# -ge 3 ] || { echo "usage: DATA=/path/to/datasets bash $0 DATASET CFG SHOTS [KEY VALUE ...]" >&2; exit 2; }
exec bash "$(dirname "$0")/../common/fewshot_main.sh" TCP "$1" "$2" "$3" TRAINER.COOP.N_CTX 4 "${@:4}"
