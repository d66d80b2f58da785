# Set-up commands: `make demo` (the main job on data and a model that need no download) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= data/demo
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test lint clean-demo

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt setup.py
	$(BIN)/pip install -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The main job on the built-in MiniCLIP world (vlprompt/mini/, docs/miniclip.md): a tiny CLIP pretrained by
# tools/pretrain_miniclip.py and shipped in the package, and the MiniShapesTinted benchmark (generated into
# $(DEMO_DATA) on first use). Zero-shot CLIP, then CoOp with 16 shots for seeds 1-3, then the table.
# A few minutes on 2 CPU cores. Real work: DATA=/path/to/datasets and the original configs (rn50_ep50, ...).
DEMO_ZS := bash scripts/coop/zeroshot.sh mini_shapes_tinted mini_ep50
DEMO_COOP := bash scripts/coop/main.sh mini_shapes_tinted mini_ep50 end 16 16 False
demo: install
	DATA=$(DEMO_DATA) $(DEMO_ZS)
	DATA=$(DEMO_DATA) $(DEMO_COOP)
	$(BIN)/python parse_test_res.py --compare "zero-shot CLIP=$$(PRINT_DIR=1 $(DEMO_ZS))" \
		"CoOp, 16 shots=$$(PRINT_DIR=1 $(DEMO_COOP))"

test: install
	$(BIN)/python -m pytest -q tests

lint: install  # the rules are in ruff.toml
	$(BIN)/ruff check .

clean-demo:
	rm -rf $(DEMO_DATA) "$$(PRINT_DIR=1 $(DEMO_ZS))" "$$(PRINT_DIR=1 $(DEMO_COOP))"
