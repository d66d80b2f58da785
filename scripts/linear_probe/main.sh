#!/bin/bash
# Linear probe on frozen CLIP features, seeds 1-3 (run from the repository root). Same few-shot
# splits as CoOp; C is searched on the val split. Features are cached in TRAINER.FEATURES.CACHE_DIR.
# usage: DATA=/path/to/datasets bash scripts/linear_probe/main.sh DATASET CFG SHOTS
#   e.g. bash scripts/linear_probe/main.sh caltech101 rn50 16
set -e
source "$(dirname "$0")/../common/lib.sh"

DATA=${DATA:-/path/to/datasets}  # the folder holding caltech-101/, oxford_pets/, ...
TRAINER=LinearProbe

DATASET=$1
CFG=$2   # config file under configs/trainers/LinearProbe/
SHOTS=$3 # number of shots (1, 2, 4, 8, 16)
if [ -z "$SHOTS" ]; then
    echo "usage: DATA=/path/to/datasets bash scripts/linear_probe/main.sh DATASET CFG SHOTS" >&2
    exit 2
fi

for SEED in 1 2 3
do
    DIR=output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
    train_unless_exists ${DIR} DATASET.NUM_SHOTS ${SHOTS}
done
