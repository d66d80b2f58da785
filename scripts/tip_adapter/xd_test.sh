#!/bin/bash
# TipAdapter: see scripts/common/xd_test.sh (CFG default vit_b16; SOURCE, SHOTS, LOADEP override). Defined for
# targets whose classes are in the cache (ImageNet -> imagenetv2, imagenet_sketch, imagenet_a, imagenet_r);
# another dataset's classes are an error naming them.
# usage: DATA=/path/to/datasets bash scripts/tip_adapter/xd_test.sh DATASET SEED
CFG=${CFG:-vit_b16} exec bash "$(dirname "$0")/../common/xd_test.sh" TipAdapter "$@"
