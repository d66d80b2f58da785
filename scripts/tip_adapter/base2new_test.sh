#!/bin/bash
# TipAdapter has no base-to-novel protocol: its cache values are one-hot labels of the training classes, so it
# cannot classify novel classes. This wrapper exists so that the family is complete; it stops at once with
# that explanation (vlprompt/launch.py, TipAdapter.unsupported_protocols) and exit status 2.
# usage: DATA=/path/to/datasets bash scripts/tip_adapter/base2new_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/base2new_test.sh" TipAdapter "$@"
