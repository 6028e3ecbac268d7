# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo
export OPENBLAS_NUM_THREADS ?= 1
# XGBoost's idle OpenMP threads spin by default; on a shared 2-core machine that
# makes a 2-thread fit several times slower than a 1-thread one.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test demo bench lint clean

# Re-install when the project's metadata changes; the stamp keeps repeat runs fast.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cnn,dask,dynamical]'
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

# The main job end to end on the built-in synthetic data. Each step reuses what an
# earlier run left (simulate and extract resume), so a second `make demo` is quick.
demo: install
	$(BIN)/cbedfeat simulate --preset demo --out $(DEMO)/data --workers 2
	$(BIN)/cbedfeat inspect $(DEMO)/data --metadata-only --top 10
	$(BIN)/cbedfeat extract $(DEMO)/data --out $(DEMO)/features.parquet --workers 2
	$(BIN)/cbedfeat eda $(DEMO)/data --features $(DEMO)/features.parquet --out $(DEMO)/eda --max-samples 300
	$(BIN)/cbedfeat train $(DEMO)/features.parquet --out $(DEMO)/model
	$(BIN)/cbedfeat evaluate $(DEMO)/model $(DEMO)/features.parquet --out $(DEMO)/report --split test
	$(BIN)/cbedfeat predict $(DEMO)/model $(DEMO)/data/batch_test_0.h5 --out $(DEMO)/predictions.csv --top-k 5
	@echo
	@echo "Exploratory report: $(DEMO)/eda/report.html"
	@echo "Evaluation report:  $(DEMO)/report/report.html"
	@echo "Predictions:        $(DEMO)/predictions.csv"

# The measured tables of bench/results/: simulate the bench preset once, extract it,
# then run every bench script (about an hour on a 2-core machine); then the same for
# the bench-large preset (6,400 materials) and the learning curve on it.
bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/cbedfeat simulate --preset bench --out bench/data/raw --workers 2
	$(BIN)/cbedfeat extract bench/data/raw --out bench/data/features.parquet --workers 2
	$(BIN)/python bench/bench_simulate.py
	$(BIN)/python bench/bench_extract.py --data bench/data/raw --name extract_gzip
	$(BIN)/python bench/bench_imbalance.py --quick
	$(BIN)/python bench/bench_multitask.py --quick
	$(BIN)/python bench/uncompressed_copy.py
	$(BIN)/python bench/bench_extract.py --data bench/data/raw-uncompressed
	$(BIN)/python bench/bench_cnn.py --set bench bench/data/raw bench/data/features.parquet --weighting none
	$(BIN)/cbedfeat simulate --preset bench-large --out bench/data/large --workers 2
	$(BIN)/cbedfeat extract bench/data/large --out bench/data/large.parquet --workers 2
	$(BIN)/python bench/bench_learning_curve.py --features bench/data/large.parquet
	$(BIN)/python bench/bench_absence_bound.py --table bench/data/large.parquet --data bench/data/large
	$(BIN)/python bench/bench_bundle_size.py

# Lint and formatting: `ruff format --check` fails on any file ruff would reformat.
lint: install
	$(BIN)/ruff check cbedfeat tests bench
	$(BIN)/ruff format --check cbedfeat tests bench

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
