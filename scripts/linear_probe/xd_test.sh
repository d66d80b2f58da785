#!/bin/bash
# LinearProbe: see scripts/common/xd_test.sh (CFG default vit_b16; SOURCE, SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/linear_probe/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/xd_test.sh" LinearProbe "$@"
