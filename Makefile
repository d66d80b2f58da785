# Set-up commands: `make demo` (the main job on data and a model that need no download) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= data/demo
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test clean-demo

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/activate requirements.txt setup.py
	$(BIN)/pip install -r requirements.txt pytest
	$(BIN)/pip install --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The main job on the built-in MiniCLIP world (vlprompt/mini/, docs/miniclip.md): a tiny CLIP pretrained by
# tools/pretrain_miniclip.py and shipped in the package, and the MiniShapesTinted benchmark (generated into
# $(DEMO_DATA) on first use). Zero-shot CLIP, then CoOp with 16 shots for seeds 1-3, then the table.
# A few minutes on 2 CPU cores. Real work: DATA=/path/to/datasets and the original configs (rn50_ep50, ...).
DEMO_RUNS := output/mini_shapes_tinted/CoOp/mini_ep50_16shots/nctx16_cscFalse_ctpend
demo: install
	DATA=$(DEMO_DATA) bash scripts/coop/zeroshot.sh mini_shapes_tinted mini_ep50
	DATA=$(DEMO_DATA) bash scripts/coop/main.sh mini_shapes_tinted mini_ep50 end 16 16 False
	$(BIN)/python parse_test_res.py --compare "zero-shot CLIP=output/ZeroshotCLIP/mini_ep50/mini_shapes_tinted" \
		"CoOp, 16 shots=$(DEMO_RUNS)"

test: install
	$(BIN)/python -m pytest -q tests

clean-demo:
	rm -rf $(DEMO_DATA) $(DEMO_RUNS) output/ZeroshotCLIP/mini_ep50/mini_shapes_tinted
