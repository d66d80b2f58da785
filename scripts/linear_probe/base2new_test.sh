#!/bin/bash
# LinearProbe: see scripts/common/base2new_test.sh (CFG default vit_b16; SHOTS, LOADEP override).
# usage: DATA=/path/to/datasets bash scripts/linear_probe/base2new_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/base2new_test.sh" LinearProbe "$@"
