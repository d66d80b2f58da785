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

# CoOp on a generated Caltech101-layout dataset with the built-in tiny random CLIP (seeds 1-3),
# beside zero-shot CLIP, then the mean/std table. Replace DATA and the config for real runs.
demo: install
	$(BIN)/python -m vlprompt.testing.datasets --root $(DEMO_DATA) caltech101
	DATA=$(DEMO_DATA) bash scripts/coop/zeroshot.sh caltech101 tiny_ep10
	DATA=$(DEMO_DATA) bash scripts/coop/main.sh caltech101 tiny_ep10 end 16 4 True
	$(BIN)/python parse_test_res.py output/caltech101/CoOp/tiny_ep10_4shots/nctx16_cscTrue_ctpend

test: install
	$(BIN)/python -m pytest -q tests

clean-demo:
	rm -rf $(DEMO_DATA) output/caltech101/CoOp/tiny_ep10_4shots output/ZeroshotCLIP/tiny_ep10
